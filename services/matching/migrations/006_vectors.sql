-- Each need's and output's embedding (services/matching/meaning.py): 384 float32 values,
-- made once when it arrives, and the model that made it (a vector of another model is
-- made again at start).
ALTER TABLE needs ADD COLUMN vector bytea, ADD COLUMN vector_model text;
ALTER TABLE research_outputs ADD COLUMN vector bytea, ADD COLUMN vector_model text;
