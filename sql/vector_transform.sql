-- A model without a batch dimension (max_batch_size: 0) that takes a flat [N] vector:
-- 'flatten-batch-dim' sends each row's array as [N] instead of [1, N], one request per row
-- (several in flight). The model returns 2 * x / |x|.
CREATE TEMPORARY MODEL vector_transform
INPUT (input_vector ARRAY<FLOAT>)
OUTPUT (output_vector ARRAY<FLOAT>)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'vector-transform',
    'flatten-batch-dim' = 'true'
);

CREATE TEMPORARY VIEW vectors(id, v) AS VALUES
  (1, CAST(ARRAY[3.0, 4.0] AS ARRAY<FLOAT>)),
  (2, CAST(ARRAY[1.0, 0.0, 0.0] AS ARRAY<FLOAT>)),
  (3, CAST(ARRAY[0.0, 0.0, 5.0, 0.0] AS ARRAY<FLOAT>));

SELECT id, output_vector FROM ML_PREDICT(TABLE vectors, MODEL vector_transform, DESCRIPTOR(v));
