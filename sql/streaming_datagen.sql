-- A streaming job: generated measurements flow through the classifier into a blackhole sink
-- while the CLI reports rows and rows/s. Raise ROWS for a longer run; 'rows-per-second' is set
-- high because datagen's default (10000) would measure the generator, not the inference.
CREATE TEMPORARY MODEL iris_classifier
INPUT (features ARRAY<FLOAT>)
OUTPUT (class_id BIGINT)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'classifier'
);

CREATE TEMPORARY TABLE measurements (
  id BIGINT, sepal_length FLOAT, sepal_width FLOAT, petal_length FLOAT, petal_width FLOAT
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '${ROWS:-100000}',
  'rows-per-second' = '10000000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '${ROWS:-100000}',
  'fields.sepal_length.min' = '4.3', 'fields.sepal_length.max' = '7.9',
  'fields.sepal_width.min' = '2.0', 'fields.sepal_width.max' = '4.4',
  'fields.petal_length.min' = '1.0', 'fields.petal_length.max' = '6.9',
  'fields.petal_width.min' = '0.1', 'fields.petal_width.max' = '2.5'
);

CREATE TEMPORARY VIEW flowers AS
SELECT id, ARRAY[sepal_length, sepal_width, petal_length, petal_width] AS features FROM measurements;

CREATE TEMPORARY TABLE species (id BIGINT, class_id BIGINT) WITH ('connector' = 'blackhole');

INSERT INTO species
SELECT id, class_id FROM ML_PREDICT(TABLE flowers, MODEL iris_classifier, DESCRIPTOR(features));
