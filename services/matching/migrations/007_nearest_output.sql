-- Each open need's best cosine in meaning with any output (meaning.Vectors.best): set when
-- the need arrives, raised when a nearer output arrives, so that a pair is judged against
-- the need's best whichever side arrived last.
ALTER TABLE needs ADD COLUMN nearest_output real;
