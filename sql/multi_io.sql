-- Several inputs and several outputs of mixed types: the DESCRIPTOR columns map to the model's
-- INPUT columns by position; the result is every input column, then every OUTPUT column. An output
-- whose name an input column already has gets a 0 appended (is_long -> is_long0).
CREATE TEMPORARY MODEL multi_io
INPUT (ids BIGINT, `text` STRING, vec ARRAY<FLOAT>)
OUTPUT (id_times_two BIGINT, text_upper STRING, text_length INT, vec_sum DOUBLE,
        vec_scaled ARRAY<FLOAT>, is_long BOOLEAN)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'multi-io'
);

CREATE TEMPORARY VIEW items(k, s, v, is_long) AS VALUES
  (1, 'hi', CAST(ARRAY[1.0, 2.0, 3.0] AS ARRAY<FLOAT>), 'n/a'),
  (2, 'hello world', CAST(ARRAY[0.5, 0.5, 0.5] AS ARRAY<FLOAT>), 'n/a');

SELECT * FROM ML_PREDICT(
  INPUT => TABLE items,
  MODEL => MODEL multi_io,
  ARGS => DESCRIPTOR(k, s, v));
