-- An LLM on Triton from SQL: model_repository/tiny-llm, a decoupled model like vLLM's, answers
-- through Triton's generate extension (its infer endpoint refuses decoupled models).
-- 'inference-api' is left at 'auto', which picks generate-stream for a decoupled model; the
-- answer is the concatenation of the streamed pieces. 'generate-parameters' holds the fields
-- every request gets (here: stream the answer word by word, 6 words, stop before 'END'); a
-- column named like a generation parameter (max_tokens) sets it per row, and NULL there keeps
-- the model's value. The endpoint comes from TRITON_ENDPOINT (the CLI starts a local Triton
-- when it is unset).
CREATE MODEL tiny_llm
INPUT (prompt STRING, max_tokens INT)
OUTPUT (text_output STRING)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'tiny-llm',
    'generate-parameters' = '{"stream": true, "max_tokens": 6, "stop": "END"}',
    'max-concurrent-requests' = '8',
    'timeout' = '30s'
);

CREATE TEMPORARY VIEW prompts(id, prompt, max_tokens)
AS VALUES
  (1, 'the quick brown fox', CAST(NULL AS INT)),
  (2, 'to be or not', 3),
  (3, 'sing a song END of sixpence', 10);

SELECT id, prompt, max_tokens, text_output AS answer
FROM ML_PREDICT(TABLE prompts, MODEL tiny_llm, DESCRIPTOR(prompt, max_tokens));
