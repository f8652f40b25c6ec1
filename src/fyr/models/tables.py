"""Imports every table so that `Base.metadata` is complete (Alembic, tests)."""

from fyr.db.base import Base
from fyr.models.actions import RolloutAction, WorkloadMute
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.flight import AnalysisFlight
from fyr.models.gitlab import GitlabMetadata, WebhookDelivery
from fyr.models.rollout import Rollout

__all__ = ["Analysis", "AnalysisFlight", "AnalysisMetric", "Base", "GitlabMetadata", "Rollout", "RolloutAction",
           "WebhookDelivery", "WorkloadMute"]
