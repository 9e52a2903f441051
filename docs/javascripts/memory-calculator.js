// Placeholder: the memory calculator of the "Why PEFT" chapter lands here.
