"""The pipeline's stages: fetch → parse → normalise → match → group → store."""
