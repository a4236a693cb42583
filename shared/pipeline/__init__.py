"""The pipeline's stages and their providers: transcription, analysis and publishing."""
