-- Iris species from four measurements, sent as ARRAY<FLOAT> to the `classifier` model
-- (features FP32 [4] -> class_id INT64), batched: one request carries up to 1024 rows.
CREATE TEMPORARY MODEL iris_classifier
INPUT (features ARRAY<FLOAT>)
OUTPUT (class_id BIGINT)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'classifier',
    'compression' = 'gzip'
);

CREATE TEMPORARY VIEW flowers(id, species, features) AS VALUES
  (1, 'setosa',     CAST(ARRAY[5.1, 3.5, 1.4, 0.2] AS ARRAY<FLOAT>)),
  (2, 'versicolor', CAST(ARRAY[7.0, 3.2, 4.7, 1.4] AS ARRAY<FLOAT>)),
  (3, 'virginica',  CAST(ARRAY[6.3, 3.3, 6.0, 2.5] AS ARRAY<FLOAT>)),
  (4, 'versicolor', CAST(ARRAY[5.7, 2.8, 4.1, 1.3] AS ARRAY<FLOAT>));

SELECT id, species,
       CASE class_id WHEN 0 THEN 'setosa' WHEN 1 THEN 'versicolor' ELSE 'virginica' END AS predicted
FROM ML_PREDICT(TABLE flowers, MODEL iris_classifier, DESCRIPTOR(features));
