"""The DARTS bi-level step: one architecture update (first or second order), then one weight update.

Second order follows DARTS (Liu et al., 2019) exactly:

- virtual step ``w' = w - eta * (mu * momentum_buffer + grad_w L_train(w) + lambda * w)``: one SGD step with the
  weight optimizer's momentum buffer, weight decay and current learning rate, without clipping;
- ``v = grad_w' L_val(w')``, ``R = 0.01 / ||v||``;
- ``g_alpha = grad_alpha L_val(w') - eta * (grad_alpha L_train(w + R v) - grad_alpha L_train(w - R v)) / (2 R)``,
  the finite differences taken at the *original* ``w`` on the same train batch.

The weights are changed in place on the one network (none is built per step) and restored bit for bit
afterwards, BatchNorm running statistics included; the optimizers' states are only read. The real weight step
then reuses the train batch, with gradient clipping.

Data parallel: ``all_reduce`` averages a list of tensors over the workers in place. It is applied to
``grad_w L_train`` (so ``w'`` is the same everywhere), to ``v`` (so ``R`` is) and to the architecture gradient
(so every worker takes the same architecture step), and to the weight gradients of the real step. The model
is the unwrapped module: DDP cannot carry ``torch.autograd.grad``.

Example:
    >>> from raynas.spaces.darts import SearchNetwork
    >>> net = SearchNetwork(C=2, layers=3, steps=2, in_channels=1)
    >>> w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    >>> a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    >>> architect = Architect(net, w_opt, a_opt, order=2)
    >>> x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> loss, logits = architect.step(x, y, x, y)
    >>> logits.shape
    torch.Size([4, 10])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import nn

AllReduce = Callable[[Sequence[torch.Tensor]], None]


class Supernet(Protocol):
    """What :class:`Architect` uses of its model, an ``nn.Module`` that keeps its architecture parameters apart
    from its weights (the DARTS cell supernet, a relaxed model space)."""

    def __call__(self, x: torch.Tensor) -> Any: ...

    def buffers(self) -> Iterator[torch.Tensor]: ...

    def weight_parameters(self) -> Iterable[nn.Parameter]: ...

    def arch_parameters(self) -> Iterable[nn.Parameter]: ...


def no_all_reduce(tensors: Sequence[torch.Tensor]) -> None:
    """A single worker: nothing to average."""


class Architect:
    """Updates the architecture parameters and the weights of ``model`` from one train and one val batch.

    ``model`` must offer ``weight_parameters()`` and ``arch_parameters()``; ``weight_optimizer`` must be the
    SGD optimizer of the weights (its momentum, weight decay and current learning rate define the virtual
    step) and ``arch_optimizer`` the optimizer of the architecture parameters.
    """

    def __init__(
        self,
        model: Supernet,
        weight_optimizer: torch.optim.SGD,
        arch_optimizer: torch.optim.Optimizer,
        order: int = 1,
        grad_clip: float = 5.0,
        criterion: nn.Module | None = None,
        all_reduce: AllReduce = no_all_reduce,
    ):
        if order not in (1, 2):
            raise ValueError(f"DARTS order must be 1 (first order) or 2 (second order), got {order!r}")
        self.model, self.order, self.grad_clip = model, order, grad_clip
        self.weight_optimizer, self.arch_optimizer = weight_optimizer, arch_optimizer
        self.criterion = criterion or nn.CrossEntropyLoss()
        self.all_reduce = all_reduce
        self.weights = list(model.weight_parameters())
        self.alphas = list(model.arch_parameters())

    def step(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        update_arch: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One architecture step (unless ``update_arch`` is false), then one weight step on the train batch.

        Returns the train loss and logits of the weight step.
        """
        if update_arch:
            self.arch_optimizer.zero_grad(set_to_none=True)
            grads = (
                self.arch_gradient_second_order(x_train, y_train, x_val, y_val)
                if self.order == 2
                else self._grads(x_val, y_val, self.alphas)
            )
            self.all_reduce(grads)
            for alpha, grad in zip(self.alphas, grads):
                alpha.grad = grad
            self.arch_optimizer.step()
        return self.weight_step(x_train, y_train)

    def weight_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The real SGD step of the weights, gradients averaged over workers and clipped."""
        self.weight_optimizer.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = self.criterion(logits, y)
        raw = torch.autograd.grad(loss, self.weights, allow_unused=True)
        grads = [torch.zeros_like(w) if g is None else g for w, g in zip(self.weights, raw)]
        self.all_reduce(grads)
        for w, g in zip(self.weights, grads):
            w.grad = g
        if self.grad_clip:
            nn.utils.clip_grad_norm_(self.weights, self.grad_clip)
        self.weight_optimizer.step()
        return loss.detach(), logits.detach()

    def arch_gradient_second_order(
        self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor
    ) -> list[torch.Tensor]:
        """The unrolled architecture gradient (finite-difference Hessian-vector product), not yet averaged."""
        eta = self.weight_optimizer.param_groups[0]["lr"]
        original = [w.detach().clone() for w in self.weights]
        buffers = self._bn_buffers()
        try:
            self._set_weights(self.virtual_weights(x_train, y_train))
            dalpha_and_v = self._grads(x_val, y_val, self.alphas + self.weights)
            dalpha, v = dalpha_and_v[: len(self.alphas)], dalpha_and_v[len(self.alphas) :]
            self.all_reduce(v)
            squares = [(t * t).sum() for t in v]
            R = 0.01 / torch.sqrt(sum(squares[1:], squares[0]))
            self._set_weights([w + R * t for w, t in zip(original, v)])
            grad_plus = self._grads(x_train, y_train, self.alphas)
            self._set_weights([w - R * t for w, t in zip(original, v)])
            grad_minus = self._grads(x_train, y_train, self.alphas)
        finally:
            self._set_weights(original)
            self._restore_bn_buffers(buffers)
        return [d - eta * (p - m) / (2 * R) for d, p, m in zip(dalpha, grad_plus, grad_minus)]

    def virtual_weights(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """``w - eta * (mu * momentum_buffer + grad_w L_train + lambda * w)``: one unclipped SGD step, not applied."""
        group = self.weight_optimizer.param_groups[0]
        eta, mu, decay = group["lr"], group["momentum"], group["weight_decay"]
        grads = self._grads(x, y, self.weights)
        self.all_reduce(grads)
        out = []
        with torch.no_grad():
            for w, g in zip(self.weights, grads):
                d = g + decay * w
                buffer = self.weight_optimizer.state.get(w, {}).get("momentum_buffer")
                if buffer is not None:
                    d = d + mu * buffer
                out.append(w - eta * d)
        return out

    def _grads(self, x: torch.Tensor, y: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        loss = self.criterion(self.model(x), y)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]

    @torch.no_grad()
    def _set_weights(self, values: list[torch.Tensor]) -> None:
        for w, value in zip(self.weights, values):
            w.copy_(value)

    def _bn_buffers(self) -> list[torch.Tensor]:
        return [b.detach().clone() for b in self.model.buffers()]

    @torch.no_grad()
    def _restore_bn_buffers(self, saved: list[torch.Tensor]) -> None:
        for b, value in zip(self.model.buffers(), saved):
            b.copy_(value)
