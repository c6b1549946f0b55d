"""Training machinery shared by every learned system (:mod:`kbsc.training.loop`)."""

from kbsc.training.loop import Budget, TrainingReport, TrainTask, convergence, run_training

__all__ = ["Budget", "TrainTask", "TrainingReport", "convergence", "run_training"]
