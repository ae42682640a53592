"""Lambda entry point of the pipeline's tasks (invoked by Step Functions, not by API Gateway)."""

from prepkit.pipeline.entry import make_pipeline_handler

handler = make_pipeline_handler()
