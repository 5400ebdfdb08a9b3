"""What decides the next step: the fine-tuned router/LLM policy, moderation, handoff rules."""
