"""run(config) -> RunResult: the task loop, the optimiser loop, evaluation after every task on
every task seen so far, seeding, device choice, events, and (with a RunDir) checkpoints for resume.
TaskRunner learns one task of a run, in run()'s order; run() loops over it.

The runner, not the method, runs the optimiser and evaluates, so every method is measured alike.
"""
from __future__ import annotations

import copy
import math
import time
import traceback
from typing import Callable

import torch

from labkit.config import RunConfig
from labkit.curvature import curvature_after_task
from labkit.data import ArrayDataset, Scenario, load_dataset, make_scenario
from labkit.data.augment import random_crop_flip
from labkit.data.loaders import batches
from labkit.experiment import pretrain
from labkit.experiment.events import EpochEnded, Event, RunDiverged, RunFailed, RunFinished, RunStarted, TaskEvaluated
from labkit.experiment.knn_probe import knn_probe
from labkit.experiment.metrics import natural_kind
from labkit.experiment.outcome import Diverged, divergence, parameter_norm, weight_divergence
from labkit.experiment.result import PER_TASK, RunResult
from labkit.experiment.store import RunDir
from labkit.experiment.tensorboard_log import TensorBoardLog
from labkit.losses import LOSSES, ClassificationLoss
from labkit.methods import METHODS, Method, TaskContext
from labkit.models import IncrementalNet, build_model
from labkit.errors import ConfigError, StoreError

EVAL_BATCH = 1024


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_task(seed: int, t: int) -> None:
    """Seed torch for task t (t = -1: model construction). Each task starts from a seed of its
    own, so a resumed run draws exactly the numbers an uninterrupted one would."""
    torch.manual_seed(seed * 1000 + t + 1)


def config_scenario(config: RunConfig, dataset: ArrayDataset) -> Scenario:
    """The scenario `config` cuts `dataset` into: its kind, tasks, seed, class order and
    validation split (labkit.data.make_scenario)."""
    return make_scenario(dataset, config.scenario, config.tasks, config.seed, config.val_fraction,
                         config.class_order, config.val_split)


def scenario_on(scenario: Scenario, device: torch.device) -> Scenario:
    """The scenario with every tensor moved to `device` once, up front."""
    for task in scenario.tasks:
        for name in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
            setattr(task, name, getattr(task, name).to(device))
    return scenario


def grow_heads(model: IncrementalNet, scenario: Scenario, t: int, layout: str = "per-task") -> None:
    """Give the model the head(s) task t needs: one per task, or one shared head (data-IL); with
    layout "all-classes" (Mammoth's class-IL arrangement) one head over every class of the
    dataset, from the first task on, and nothing after."""
    if layout == "all-classes":
        if t == 0:
            model.add_head(scenario.num_classes)
    elif scenario.multi_head or t == 0:
        model.add_head(scenario.head_sizes[t if scenario.multi_head else 0])


@torch.no_grad()
def evaluate(model: IncrementalNet, scenario: Scenario, t: int,
             loss: ClassificationLoss | None = None) -> tuple[list[float], list[float], list[float]]:
    """Accuracy on tasks 0..t: task-aware (the prediction within task u's own head; in data-IL
    the one head) and task-agnostic (over all heads so far), predicting as the training loss
    does (argmax of the logits, or of the loss's own scores: spherical, Taylor); and the mean
    logit of each head over the test samples of those tasks (the head offsets softmax leaves
    free, docs/PAPERS.md, section 1)."""
    return split_accuracy(model, scenario, t, loss, "test")


@torch.no_grad()
def split_accuracy(model: IncrementalNet, scenario: Scenario, t: int, loss: ClassificationLoss | None,
                   split: str) -> tuple[list[float], list[float], list[float]]:
    """`evaluate` on the tasks' "test" or "val" samples (the validation split carved out of each
    task's training data, RunConfig.val_fraction: what hyper-parameter search selects on)."""
    predict = loss.predictions if loss is not None else (lambda z: z.argmax(-1))
    model.eval()
    taw, tag = [], []
    logit_sums, count = torch.zeros(len(model.heads.sizes), device=scenario.tasks[0].test_y.device), 0
    for u, task in enumerate(scenario.tasks[: t + 1]):
        xs, ys = getattr(task, f"{split}_x"), getattr(task, f"{split}_y")
        hits_aw = hits_ag = 0
        own_columns = slice(task.offset, task.offset + task.num_classes)  # head u, or its classes in one head
        for x, y in batches(xs, ys, EVAL_BATCH, shuffle=False):
            out = model.head_logits(x)
            logits = torch.cat(out, 1)
            hits_ag += (predict(logits) == y).sum()
            own = predict(logits[:, own_columns]) + task.offset if scenario.multi_head else predict(out[0])
            hits_aw += (own == y).sum()
            logit_sums += torch.stack([z.sum(0).mean() for z in out])
            count += len(y)
        n = max(len(ys), 1)
        taw.append(float(hits_aw) / n)
        tag.append(float(hits_ag) / n)
    model.train()
    return taw, tag, (logit_sums.cpu() / max(count, 1)).tolist()


def head_statistics(model: IncrementalNet, logit_means: list[float]) -> dict[str, list[float]]:
    """Per head k: the mean L2 norm of its weight rows ||W_k,c||, the mean of its biases b_k,c
    (0.0 for a head without bias, e.g. cosine), and its mean logit on the test data seen (from
    `evaluate`)."""
    heads = model.heads.heads
    return {"weight_norm": [float(h.weight.detach().norm(dim=1).mean()) for h in heads],
            "bias_mean": [float(h.bias.detach().mean()) if getattr(h, "bias", None) is not None else 0.0
                          for h in heads],
            "logit_mean": logit_means}


def make_optimizer(config: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


@torch.no_grad()
def validation_loss(method: Method, ctx: TaskContext) -> float | None:
    task = ctx.task
    if len(task.val_y) == 0:
        return None
    ctx.model.eval()
    total = torch.zeros((), dtype=torch.float64, device=ctx.device)  # read once, not per batch
    for x, y in batches(task.val_x, task.val_y, EVAL_BATCH, shuffle=False):
        total += method.training_loss(ctx, x, y).double() * len(y)
    ctx.model.train()
    return float(total) / len(task.val_y)


def train_task(config: RunConfig, method: Method, ctx: TaskContext, emit: Callable[[Event], None],
               loss_scale: float = 0.0) -> list[float]:
    """The optimiser loop of one task; returns the mean training loss of each epoch. Each step:
    method.training_loss on the batch, the optimiser step, then method.after_step on the same
    batch (the order labkit.methods.base documents). Losses are summed on the device and read
    once per epoch (no host sync per batch), together with the first batch's loss and the
    parameter norm, kept on the device. With lr_patience, FACIL's validation-driven decay and
    early stop (see RunConfig). Raises Diverged after the epoch whose loss is not finite or has
    exploded (labkit.experiment.outcome.divergence) past 10 x the larger
    of the first batch's loss and `loss_scale` (the run's first epoch loss), or whose weights
    are not finite or blew up (labkit.experiment.outcome.weight_divergence: the norm of the parameters
    the task starts with, against its start). So the model it returns has finite weights:
    the method's after_task never reads NaN ones."""
    x, y = method.training_data(ctx)
    if config.freeze_old_heads and ctx.scenario.multi_head:
        for head in ctx.model.heads.heads[: ctx.t]:
            head.requires_grad_(False)
    optimizer = make_optimizer(config, ctx.model)
    schedule = ValidationSchedule(config, ctx.model, optimizer)
    ctx.model.train()
    params = list(ctx.model.parameters())  # the backbone and every head the task starts with
    start_norm = parameter_norm(params)
    epoch_losses, first_batch = [], None
    for epoch in range(config.epochs):
        total = torch.zeros((), device=ctx.device)
        for xb, yb in batches(x, y, config.batch_size):
            xb = device_batch(config, xb)
            with autocast(config, ctx.device, method):
                loss = method.training_loss(ctx, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            method.after_step(ctx, xb, yb)  # after the step: a replay memory stores the batch now
            total += loss.detach() * len(yb)
            if first_batch is None:
                first_batch = loss.detach().clone()
        loss_sum, first_loss, norm, start = torch.stack(  # one host sync per epoch
            [total.double(), first_batch.double(), parameter_norm(params), start_norm]).tolist()
        epoch_losses.append(loss_sum / len(y))
        val_loss = validation_loss(method, ctx)
        emit(EpochEnded(ctx.t, epoch, config.epochs, epoch_losses[-1], val_loss, schedule.lr))
        reason = divergence(epoch_losses[-1], max(first_loss, loss_scale)) or weight_divergence(norm, start)
        if reason:
            finite = [v for v in epoch_losses if math.isfinite(v)]
            raise Diverged(ctx.t, epoch, reason, finite[-1] if finite else None)
        if not schedule.step(val_loss):
            break
    schedule.keep_best()
    return epoch_losses


def device_batch(config: RunConfig, x: torch.Tensor) -> torch.Tensor:
    """A training batch as the GPU path wants it: augmented on its device, NHWC if asked."""
    if config.augment:
        x = random_crop_flip(x)
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def autocast(config: RunConfig, device: torch.device, method: Method) -> torch.autocast:
    """bf16 autocast of the training step: CUDA only, for methods it keeps correct."""
    enabled = config.amp and device.type == "cuda" and type(method).autocast_safe
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


class ValidationSchedule:
    """FACIL's learning-rate schedule: keep the model with the best validation loss; after
    `lr_patience` epochs without improvement divide the rate by `lr_factor` and go back to the
    best model; stop once the rate is below `lr_min`. Inactive when lr_patience is 0."""

    def __init__(self, config: RunConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.config, self.model, self.optimizer = config, model, optimizer
        self.lr, self.best_loss, self.patience = config.lr, float("inf"), config.lr_patience
        # the model as the task starts is the best so far (FACIL): a first epoch that diverges
        # is rolled back to it
        self.best_state = copy.deepcopy(model.state_dict()) if config.lr_patience else None

    def step(self, val_loss: float | None) -> bool:
        """Account for one epoch's validation loss; False when training should stop."""
        if not self.config.lr_patience or val_loss is None:
            return True
        if val_loss < self.best_loss:
            self.best_loss, self.patience = val_loss, self.config.lr_patience
            self.best_state = copy.deepcopy(self.model.state_dict())
            return True
        self.patience -= 1
        if self.patience > 0:
            return True
        self.lr /= self.config.lr_factor
        if self.lr < self.config.lr_min:
            return False
        self.patience = self.config.lr_patience
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.model.load_state_dict(self.best_state)
        return True

    def keep_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def build_run_model(config: RunConfig, scenario: Scenario, method: Method,
                    pretrained: dict | None) -> IncrementalNet:
    """The run's model before any task: the backbone (its pre-trained weights loaded when the
    config names a checkpoint), then whatever the method changes (DLCFT linearises it)."""
    seed_task(config.seed, -1)
    model = build_model(config.backbone, scenario.input_shape, type(method).head_kind)
    if pretrained is not None:
        if tuple(pretrained["input_shape"]) != tuple(scenario.input_shape):
            raise ConfigError("pretrained", config.pretrained, f"a checkpoint for images of shape "
                              f"{tuple(scenario.input_shape)}; it was trained on {tuple(pretrained['input_shape'])}")
        model.backbone.load_state_dict(pretrained["state_dict"])
    method.prepare_model(model, scenario)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.compile:
        model.backbone.compile()  # in place: parameter names (and checkpoints) unchanged
    return model


def restore(checkpoint: dict, model: IncrementalNet, method: Method, scenario: Scenario,
            layout: str = "per-task") -> RunResult:
    """Bring model and method back to the end of the checkpoint's task; return its result."""
    restore_model(checkpoint, model, scenario, layout)
    method.load_state_dict(checkpoint["method"])
    return RunResult.from_dict(checkpoint["result"])


def restore_model(checkpoint: dict, model: IncrementalNet, scenario: Scenario, layout: str = "per-task") -> None:
    """Bring the model back to the end of the checkpoint's task: its heads grown task by task as
    the run grew them, then the checkpoint's weights loaded."""
    for u in range(checkpoint["task"] + 1):
        grow_heads(model, scenario, u, layout)
    model.load_state_dict(checkpoint["model"])


class TaskRunner:
    """One run's tasks, learned one at a time exactly as run() learns them (run() loops over
    run_task). Task t, in this order:

      begin(t)      the clock starts; seed_task; method.before_task; the head(s) task t needs
                    (grow_heads); method.heads_grown; returns the task's TaskContext
      finish(ctx)   train_task (per batch: training_loss, the optimiser step, after_step); the
                    epoch losses recorded; method.after_task; test accuracy; validation accuracy
                    (val_fraction > 0); the k-NN probe (knn_k > 0); head statistics; the task's
                    seconds; curvature (track_curvature, after the clock); with a run folder the
                    checkpoint, the task's model and result.json; the TaskEvaluated event

    Everything is recorded in `result`; begin and finish are separate so that a caller can look
    at the method between them (tests/helpers.Stepper). A Diverged error from train_task leaves
    finish at once, with nothing of task t recorded.
    """

    def __init__(self, config: RunConfig, scenario: Scenario, method: Method, model: IncrementalNet,
                 device: torch.device, result: RunResult, emit: Callable[[Event], None] = lambda event: None,
                 run_dir: RunDir | None = None):
        self.config, self.scenario, self.method, self.model = config, scenario, method, model
        self.device, self.result, self.emit, self.run_dir = device, result, emit, run_dir
        self.started = 0.0  # when the task being learned began (perf_counter)

    def run_task(self, t: int) -> None:
        """Learn task t and record it: finish(begin(t))."""
        self.finish(self.begin(t))

    def begin(self, t: int) -> TaskContext:
        """Task t's start, up to its training: seed, before_task, heads grown, heads_grown."""
        self.started = time.perf_counter()
        seed_task(self.config.seed, t)
        ctx = TaskContext(self.model, self.scenario, t, LOSSES.get(self.config.loss), self.device,
                          sync_free=self.device.type == "cuda")
        self.method.before_task(ctx)
        grow_heads(self.model, self.scenario, t, self.config.head_layout)
        self.method.heads_grown(ctx)
        return ctx

    def finish(self, ctx: TaskContext) -> None:
        """Train task ctx.t, let the method end it, evaluate, record, store and announce it."""
        config, model, result, t = self.config, self.model, self.result, ctx.t
        scale = result.epoch_losses[0][0] if result.epoch_losses else 0.0  # stored: a resume agrees
        result.epoch_losses.append(train_task(config, self.method, ctx, self.emit, scale))
        self.method.after_task(ctx)
        taw, tag, logit_means = evaluate(model, self.scenario, t, ctx.loss)
        result.acc_taw.append(taw)
        result.acc_tag.append(tag)
        if config.val_fraction:
            val_taw, val_tag, _ = split_accuracy(model, self.scenario, t, ctx.loss, "val")
            result.val_taw.append(val_taw)
            result.val_tag.append(val_tag)
        if config.knn_k:
            result.knn_acc.append(knn_probe(model, self.scenario, t, config.knn_k))
        result.head_stats.append(head_statistics(model, logit_means))
        result.task_seconds.append(time.perf_counter() - self.started)
        if config.track_curvature:  # measurement, after the clock: not in task_seconds
            result.curvature.append(curvature_after_task(
                model, self.scenario, t, config.loss, generator=torch.Generator().manual_seed(config.seed * 1000 + t)))
        if self.run_dir is not None:
            self.store(t)
        self.emit(TaskEvaluated(t, taw, tag, result.task_seconds[-1]))

    def store(self, t: int) -> None:
        """Task t's checkpoint, its model and result.json into the run folder."""
        result = self.result
        try:
            self.run_dir.save_checkpoint({"task": t, "model": self.model.state_dict(),
                                          "method": self.method.state_dict(), "result": result.to_dict(),
                                          "config": self.config.to_dict()})
        except BaseException:  # a task counts once the checkpoint holds it: so a resume agrees
            forget_task(result, t)
            raise
        self.run_dir.save_task_model(t, self.model.state_dict())
        self.run_dir.write_result(result)


def run(config: RunConfig, on_event: Callable[[Event], None] | None = None, *,
        run_dir: RunDir | None = None, experiment: str | None = None) -> RunResult:
    """Run an experiment. With `run_dir`, events, the result after each task and a checkpoint
    are written there, and a run_dir holding a checkpoint is resumed after its last task; with
    config.log, the loggers write there too (`experiment`: MLflow's experiment, a sweep's name).

    The result's status says how it ended: "finished"; "diverged" (returned, not raised: the
    completed tasks are kept and result.failure says where and why, labkit.experiment.outcome); "stopped"
    (KeyboardInterrupt, re-raised) or "failed" (any other error, re-raised; with a run_dir the
    traceback is kept in result.json)."""
    config.validate()
    if config.log and run_dir is None:
        raise ConfigError("log", config.log, "a run folder to write the log into: run(config, run_dir=RunDir(...)), "
                          "or log '' (the command line's `run` always has one)")
    if run_dir is None:
        return _run(config, on_event, None, experiment)
    with run_dir.writing():  # one writer per folder: a second --resume of a live run is refused
        return _run(config, on_event, run_dir, experiment)


def loggers(config: RunConfig, run_dir: RunDir | None, result: RunResult, experiment: str | None) -> list:
    """The loggers config.log names (labkit.experiment.tensorboard_log, .mlflow_log), each called with every event."""
    names = config.log.split(",") if config.log else []
    made = [TensorBoardLog(run_dir.path, result)] if "tensorboard" in names else []
    if "mlflow" in names:
        from labkit.experiment.mlflow_log import MlflowLog  # the optional extra

        made.append(MlflowLog(run_dir.path, result, experiment))
    return made


def _run(config: RunConfig, on_event: Callable[[Event], None] | None, run_dir: RunDir | None,
         experiment: str | None = None) -> RunResult:
    device = pick_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed image shapes: let cuDNN pick its fastest kernels
    dataset = load_dataset(config.dataset, config.data_root)  # a missing dataset fails here
    try:
        checkpoint = pretrain.resolve(config.pretrained, config.dataset, config.backbone, config.data_root, device)
    except Diverged as diverged:  # a setting that cannot train: refused before any task, nothing cached
        raise ConfigError("pretrained", config.pretrained, f"its pre-training {diverged}; nothing was cached") from None
    if checkpoint is not None:
        dataset = pretrain.without_pretraining_images(dataset, checkpoint)
    scenario = scenario_on(config_scenario(config, dataset), device)
    method = METHODS.get(config.method)(**config.method_params)
    model = build_run_model(config, scenario, method, checkpoint).to(device)
    run_id = run_dir.run_id if run_dir else None

    checkpoint = resumable_checkpoint(run_dir, config) if run_dir else None
    result = (restore(checkpoint, model, method, scenario, config.head_layout) if checkpoint
              else RunResult(config=config.to_dict(), run_id=run_id, device=str(device)))
    logs = loggers(config, run_dir, result, experiment)

    def emit(event: Event) -> None:
        if run_dir is not None:
            run_dir.append_event(event.to_dict())
        for log in logs:
            log(event)
        if on_event is not None:
            on_event(event)

    result.device, result.status, result.failure = str(device), "running", None
    emit(RunStarted(run_id, config.to_dict(), str(device), config.tasks, result.tasks_done))
    tasks = TaskRunner(config, scenario, method, model, device, result, emit, run_dir)
    try:
        for t in range(result.tasks_done, config.tasks):
            tasks.run_task(t)
    except Diverged as diverged:
        failure = diverged.to_dict()
        if failure["last_finite_loss"] is None:  # none in this task: the last of the tasks before
            earlier = [v for losses_ in result.epoch_losses for v in losses_ if v is not None and math.isfinite(v)]
            failure["last_finite_loss"] = earlier[-1] if earlier else None
        end(result, run_dir, "diverged", failure)
        emit(RunDiverged(run_id, failure, result.tasks_done))
        return result
    except BaseException as error:
        stopped = isinstance(error, KeyboardInterrupt)
        end(result, run_dir, "stopped" if stopped else "failed",
            None if stopped else {"kind": "error", "message": f"{type(error).__name__}: {error}",
                                  "traceback": traceback.format_exc()})
        emit(RunFailed(run_id, f"{type(error).__name__}: {error}", result.tasks_done))
        raise
    end(result, run_dir, "finished")
    emit(RunFinished(run_id, result.summary(natural_kind(config.scenario))))
    return result


def forget_task(result: RunResult, t: int) -> None:
    """Drop what `result` recorded of task t and after (its checkpoint could not be written: a
    full disk, Ctrl-C), so result.json never lists a task its checkpoint.pt lacks."""
    for name in PER_TASK:
        del getattr(result, name)[t:]


def end(result: RunResult, run_dir: RunDir | None, status: str, failure: dict | None = None) -> None:
    """Record how the run ended in its result (and result.json): the completed tasks stay."""
    result.status, result.failure = status, failure
    if run_dir is not None:
        run_dir.write_result(result)


def resumable_checkpoint(run_dir: RunDir, config: RunConfig) -> dict | None:
    """The checkpoint a run in `run_dir` resumes from, checked: None for a run with no completed
    task; StoreError when tasks were completed but the checkpoint is missing or unreadable, or
    the checkpoint belongs to another config, is not what the runner writes, holds fewer tasks
    than result.json or other records of the tasks both hold (result.json is never rewritten
    from a checkpoint it disagrees with). Its events.jsonl must be readable too (it is
    appended to), so a damaged folder is refused before any training."""
    stored = run_dir.result()
    run_dir.events()
    checkpoint = run_dir.load_checkpoint()
    done = stored.tasks_done if stored else 0
    if checkpoint is None:
        if done:
            raise StoreError("resume", run_dir.run_id, f"the run completed {done} task(s) but its checkpoint.pt is "
                             "missing, so it cannot continue where it stopped; start a new run")
        return None
    if checkpoint.get("config", config.to_dict()) != config.to_dict():
        raise StoreError("resume", run_dir.run_id, "its checkpoint was written by another config than its "
                         "config.json: the folder was changed by hand; start a new run")
    task = checkpoint["task"]
    try:
        saved = RunResult.from_dict(checkpoint["result"])
    except ValueError as error:
        raise StoreError("resume", run_dir.run_id, f"its checkpoint.pt holds no run's result ({error})") from None
    if type(task) is not int or not 0 <= task < config.tasks or saved.tasks_done != task + 1:
        raise StoreError("resume", run_dir.run_id, f"its checkpoint.pt is not one labkit wrote: its task number "
                         f"does not fit a run of {config.tasks} tasks whose result lists {saved.tasks_done}")
    if task + 1 < done:
        raise StoreError("resume", run_dir.run_id, f"its checkpoint holds {task + 1} task(s) but "
                         f"result.json lists {done}: the folder was changed by hand, or the run "
                         f"({stored.status}) ended after recording a task but before its checkpoint")
    if stored is not None:
        ours, theirs = stored.first_tasks(done), saved.first_tasks(done)
        differ = [name for name in ours if ours[name] != theirs[name]]
        if differ:
            raise StoreError("resume", run_dir.run_id, f"its result.json disagrees with its checkpoint on the "
                             f"{done} task(s) both hold ({', '.join(differ)}): the folder was changed by hand; "
                             "it is left as it is")
    return checkpoint
