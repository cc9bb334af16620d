"""int8 on CPU: per-token activation scales, and sibling layers that share one product."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from vestis.models.quantization import SIBLINGS, dynamic_int8, group_int8_siblings, int8_linear_class  # noqa: E402


class Block(torch.nn.Module):
    """The shape of a Llama attention + MLP: q/k/v read one input, gate/up another."""

    def __init__(self) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = (torch.nn.Linear(32, n, bias=n == 8) for n in (32, 8, 8))
        self.gate_proj, self.up_proj = torch.nn.Linear(32, 48), torch.nn.Linear(32, 48)
        self.down_proj = torch.nn.Linear(48, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        y = x + q + torch.cat([k, v, k, v], dim=-1)
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(y)) * self.up_proj(y))


def test_grouped_siblings_give_exactly_the_separate_layers_outputs():
    torch.manual_seed(0)
    block = Block()
    x = torch.randn(3, 5, 32)
    with torch.inference_mode():
        reference = block(x)
        separate = dynamic_int8(Block(), [])  # nothing inside: stays float
        assert isinstance(separate.q_proj, torch.nn.Linear)
        ungrouped = Block()
        ungrouped.load_state_dict(block.state_dict())
        for name in ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"):
            setattr(ungrouped, name, int8_linear_class().from_linear(getattr(ungrouped, name)))
        expected = ungrouped(x)
        grouped = dynamic_int8(block, [block])
        assert all(getattr(grouped, n).group is not None for names in SIBLINGS for n in names)
        assert grouped.down_proj.group is None
        assert torch.equal(grouped(x), expected)
        assert (grouped(x) - reference).abs().max() < 0.05 * reference.abs().max()
        assert group_int8_siblings(grouped) == 0  # already grouped: nothing more


def test_a_sibling_called_on_another_tensor_recomputes():
    torch.manual_seed(1)
    block = Block()
    q_alone = int8_linear_class().from_linear(block.q_proj)
    k_alone = int8_linear_class().from_linear(block.k_proj)
    dynamic_int8(block, [block])
    a, b = torch.randn(4, 32), torch.randn(4, 32)
    with torch.inference_mode():
        assert torch.equal(block.q_proj(a), q_alone(a))
        assert torch.equal(block.k_proj(b), k_alone(b))  # not the pending output for a
        assert torch.equal(block.k_proj(a), k_alone(a))
        assert torch.equal(block.q_proj(b), q_alone(b))  # a stale pending q_proj output is not reused


def test_columns_compute_only_the_outputs_asked_for():
    torch.manual_seed(2)
    layer = int8_linear_class().from_linear(torch.nn.Linear(32, 100))
    x = torch.randn(6, 1, 32)
    index = torch.tensor([3, 17, 99, 0])
    with torch.inference_mode():
        assert torch.equal(layer.columns(x, index), layer(x)[..., index])
        assert layer.columns(x[:0], index).shape == (0, 1, 4)


def test_threads_sharing_a_grouped_model_get_their_own_outputs():
    import threading

    torch.manual_seed(3)
    block = Block()
    dynamic_int8(block, [block])
    inputs = [torch.randn(8, 5, 32) for _ in range(4)]
    results: dict[int, torch.Tensor] = {}
    barrier = threading.Barrier(4)

    def run(i: int) -> None:
        barrier.wait()
        with torch.inference_mode():
            results[i] = torch.stack([block(inputs[i]) for _ in range(20)])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with torch.inference_mode():
        for i, x in enumerate(inputs):
            assert torch.equal(results[i], block(x).expand(20, *block(x).shape))


def test_int8_warns_where_the_cpu_has_no_fast_int8_products(monkeypatch, caplog):
    import vestis.models.quantization as quantization

    speedup = quantization.int8_speedup()  # measured on this machine
    assert speedup > 0 and quantization.int8_speedup() == speedup  # once per process
    for measured, warned in ((0.25, True), (1.8, False)):
        monkeypatch.setattr(quantization, "int8_speedup", lambda measured=measured: measured)
        caplog.clear()
        with caplog.at_level("WARNING", logger="vestis.models.quantization"):
            dynamic_int8(Block(), [torch.nn.Identity()])  # nothing to quantize: no verdict needed
            assert not caplog.records
            block = Block()
            dynamic_int8(block, [block])
        assert bool(caplog.records) == warned
        if warned:
            assert "4.0x slower than float32" in caplog.text and "VNNI" in caplog.text
