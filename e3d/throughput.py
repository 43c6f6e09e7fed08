"""Training throughput, measured inside every training run (a Lightning callback).

Logs ``train_frames_per_s`` (training frames processed per second of wall time, forward +
backward + optimiser step + data loading, validation excluded) once per epoch to the run's
CSV log, so every model card and training curve carries its own speed.  The first
``warmup_steps`` steps of a run (allocation, first-call overheads) are not counted.
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback


def batch_frames(batch) -> int:
    """Number of frames (molecules) in a nequip AtomicDataDict batch."""
    return int(batch["num_atoms"].shape[0])


class TrainThroughput(Callback):
    def __init__(self, warmup_steps: int = 10):
        self.warmup_steps = warmup_steps
        self._reset()

    def _reset(self):
        self.frames, self.seconds, self._last = 0, 0.0, None

    def on_train_epoch_start(self, trainer, pl_module):
        self._reset()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # end to end: the time since the previous batch ended includes loading this one
        now = time.perf_counter()
        if self._last is not None and trainer.global_step > self.warmup_steps:
            self.seconds += now - self._last
            self.frames += batch_frames(batch)
        self._last = now

    def on_train_epoch_end(self, trainer, pl_module):
        if self.seconds > 0 and trainer.logger is not None:
            trainer.logger.log_metrics({"train_frames_per_s": self.frames / self.seconds,
                                        "epoch": trainer.current_epoch}, step=trainer.global_step)
