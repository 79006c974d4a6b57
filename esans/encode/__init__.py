"""Item encoders: text and image (Hugging Face + offline defaults), behaviour, fusion."""
