-- Flink's "advanced configuration" example, on the local models: authentication, custom headers,
-- gzip, retries with backoff, a default value, health checks and the circuit breaker.
-- The token comes from the environment (TRITON_TOKEN), read by the function on the TaskManager: the
-- model keeps the reference, so SHOW CREATE MODEL and the catalog never hold the token, and it
-- never appears in logs or errors.
-- Written as the docs write it ('Bearer ...'); the client does not double the prefix.
CREATE TEMPORARY MODEL triton_advanced_model
INPUT (`input` STRING)
OUTPUT (`output` STRING)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'text-classification',
    'model-version' = 'latest',
    'timeout' = '15000',
    'max-retries' = '5',
    'retry-initial-backoff' = '50ms',
    'retry-max-backoff' = '2s',
    'batch-size' = '4',
    'priority' = '100',
    'auth-token' = 'Bearer ${TRITON_TOKEN:-your-auth-token-here}',
    'custom-headers' = '{"X-Custom-Header": "custom-value", "X-Request-ID": "req-123"}',
    'compression' = 'gzip',
    'default-value' = 'unknown',
    'health-check-enabled' = 'true',
    'health-check-interval' = '10s',
    'circuit-breaker-enabled' = 'true',
    'circuit-breaker-failure-threshold' = '0.5',
    'circuit-breaker-timeout' = '30s',
    'circuit-breaker-half-open-requests' = '3'
);

CREATE TEMPORARY VIEW feedback(id, remark) AS VALUES
  (1, 'Absolutely wonderful, I loved it.'),
  (2, 'Terrible. A waste of time.'),
  (3, 'It was fine.'),
  (4, '非常好看，强烈推荐！'),
  (5, '太无聊了。'),
  (6, 'Nothing special.');

SELECT id, remark, output AS sentiment
FROM ML_PREDICT(TABLE feedback, MODEL triton_advanced_model, DESCRIPTOR(remark),
                MAP['max-concurrent-operations', '2', 'timeout', '1 min']);
