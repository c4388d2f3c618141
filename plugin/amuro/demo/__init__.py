"""`amuro demo`, beside the stages: synthetic sets in real schemas (`synthetic`), tiny OLMo models (`tiny`) pre-trained
with published checkpoints (`pretrain`), then the real study and report on them (`run`)."""
