"""The report: one schema for Gemini's structured output, the offline scorer and the API."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ReportSchema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class Evidence(StrEnum):
    ASSESSED = "assessed"
    NOT_ENOUGH_EVIDENCE = "not_enough_evidence"


class Breakdown(ReportSchema):
    """0-100 each; None when the transcript does not show enough to judge."""

    technical_depth: int | None = Field(default=None, ge=0, le=100)
    communication: int | None = Field(default=None, ge=0, le=100)
    problem_solving: int | None = Field(default=None, ge=0, le=100)
    trade_off_analysis: int | None = Field(default=None, ge=0, le=100)
    time_management: int | None = Field(default=None, ge=0, le=100)


class QuestionAnalysis(ReportSchema):
    position: int = Field(ge=1)
    question: str
    evidence_status: Evidence
    score: int | None = Field(default=None, ge=0, le=100, description="None when not_enough_evidence")
    what_went_well: list[str] = Field(default_factory=list)
    what_could_be_better: list[str] = Field(default_factory=list)
    missing_key_points: list[str] = Field(default_factory=list)
    transcript_quotes: list[str] = Field(
        default_factory=list, description="the candidate's own words, verbatim, that this judgement rests on"
    )


class NextInterview(ReportSchema):
    type: str
    difficulty: str
    focus_areas: list[str] = Field(default_factory=list)
    reason: str = ""


class ReportContent(ReportSchema):
    overall_score: int | None = Field(default=None, ge=0, le=100)
    evidence_status: Evidence
    breakdown: Breakdown
    summary: str
    per_question: list[QuestionAnalysis]
    strengths: list[str] = Field(default_factory=list)
    weaknesses: list[str] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    comparison_to_standards: str = ""
    next_steps: list[str] = Field(default_factory=list)
    next_interview: NextInterview | None = None


class ReportSource(StrEnum):
    AI = "ai"
    FALLBACK = "fallback"


class StoredReport(BaseModel):
    content: ReportContent
    source: ReportSource
    model: str | None = None
    prompt_version: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
