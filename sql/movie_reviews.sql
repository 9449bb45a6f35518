-- The movie-review example of Flink's Triton model docs, as written there, with the endpoint
-- taken from the environment: TRITON_ENDPOINT (the CLI starts a local Triton when it is unset).
CREATE MODEL triton_sentiment_classifier
INPUT (`input` STRING)
OUTPUT (`output` STRING)
WITH (
    'provider' = 'triton',
    'endpoint' = '${TRITON_ENDPOINT}',
    'model-name' = 'text-classification',
    'model-version' = '1',
    'timeout' = '10000',
    'max-retries' = '3'
);

CREATE TEMPORARY VIEW movie_reviews(id, movie_name, user_review, actual_sentiment)
AS VALUES
  (1, '好电影', '这部电影绝对精彩！演技和故事情节都很棒。', 'positive'),
  (2, '无聊的电影', '我看到一半就睡着了。非常失望。', 'negative'),
  (3, '一般的电影', '还可以，没什么特别的，但也不算糟糕。', 'neutral');

CREATE TEMPORARY TABLE classified_reviews(
  id BIGINT,
  movie_name VARCHAR,
  predicted_sentiment VARCHAR,
  actual_sentiment VARCHAR
) WITH (
  'connector' = 'print'
);

INSERT INTO classified_reviews
SELECT id, movie_name, output as predicted_sentiment, actual_sentiment
FROM ML_PREDICT(
  TABLE movie_reviews,
  MODEL triton_sentiment_classifier,
  DESCRIPTOR(user_review)
);
