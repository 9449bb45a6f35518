-- A stateful model: `sequence-model` keeps a running sum per sequence id. Every request of the
-- job carries 'sequence-id'; the first one 'sequence-start'. Triton's sequence batcher takes one
-- row per request, so the rows go in order, one after another.
CREATE TEMPORARY MODEL running_total
INPUT (`input` BIGINT)
OUTPUT (`output` BIGINT)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'sequence-model',
    'model-version' = '1',
    'sequence-id' = '${SEQUENCE_ID:-seq-001}',
    'sequence-start' = 'true',
    'sequence-end' = 'false'
);

CREATE TEMPORARY VIEW deposits(step, amount) AS VALUES (1, 10), (2, 5), (3, 20), (4, 1);

SELECT step, amount, output AS running_total
FROM ML_PREDICT(TABLE deposits, MODEL running_total, DESCRIPTOR(amount));
