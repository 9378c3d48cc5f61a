import pytest
import torch

from maskforge.ops.temporal import median, steady_frame

FRAMES, H, W = 20, 64, 96


def moving_block(speed: int = 3, width: int = 30) -> torch.Tensor:
    """A block moving right by ``speed`` px per frame: the true masks ``[N,H,W]``."""
    truth = torch.zeros(FRAMES, H, W)
    for t in range(FRAMES):
        truth[t, 20:44, 5 + speed * t : 5 + speed * t + width] = 1.0
    return truth


def flickering(truth: torch.Tensor) -> torch.Tensor:
    """The masks a per-frame model gives: on every other frame the block's top edge bulges or its bottom edge bites
    in by 2 px, a speck or a hole appears, and once a chunk drops out (each for one frame)."""
    noisy = truth.clone()
    generator = torch.Generator().manual_seed(0)
    for t in range(1, FRAMES - 1, 2):
        columns = truth[t, 30].nonzero()
        left, right = int(columns.min()), int(columns.max()) + 1
        if t % 4 == 1:
            noisy[t, 18:20, left:right] = 1.0  # the top edge bulges out
        else:
            noisy[t, 42:44, left:right] = 0.0  # the bottom edge bites in
        y = int(torch.randint(0, 30, (1,), generator=generator))
        y = y if y < 15 else y + 33  # above or below the block's rows
        x = int(torch.randint(0, W - 3, (1,), generator=generator))
        noisy[t, y : y + 3, x : x + 3] = 1.0  # a speck
    noisy[7, 20:30, 40:60] = 0.0  # a chunk drops out
    return noisy


def steady(masks: torch.Tensor, window: int) -> torch.Tensor:
    return torch.stack([steady_frame(masks, t, window) for t in range(masks.shape[0])])


def right_edges(masks: torch.Tensor) -> list[int]:
    """Per frame, one past the block's last column on its middle row: where the moving edge is."""
    return [int(m[32].nonzero().max()) + 1 for m in masks]


def wipe(speed: int) -> torch.Tensor:
    """An edge that moves on: everything left of it is masked, and it moves right by ``speed`` px per frame."""
    truth = torch.zeros(FRAMES, H, W)
    for t in range(FRAMES):
        truth[t, :, : 2 + speed * t] = 1.0
    return truth


def flicker(masks: torch.Tensor) -> float:
    """Pixels that change from one frame to the next, per frame."""
    return float((masks[1:] - masks[:-1]).abs().sum() / (masks.shape[0] - 1))


def test_flicker_goes_and_the_moving_edge_keeps_its_place():
    truth = moving_block(speed=3)
    noisy = flickering(truth)
    out = steady(noisy, 3)
    assert flicker(noisy) > 1.4 * flicker(truth)
    assert flicker(out) <= 1.02 * flicker(truth)  # what still changes from frame to frame is the motion
    assert right_edges(out) == right_edges(truth)  # the edge moves 3 px every frame, as it really does
    before, after = (noisy != truth).sum(), (out != truth).sum()
    assert after <= 0.25 * before
    # What is left lies in the strips the block's front and back edges swept over in that frame: there a flicker
    # looks like an edge arriving early or leaving late, which no per-pixel filter can tell apart.
    for t, front in enumerate(right_edges(truth)):
        back = front - 30
        columns = (out[t] != truth[t]).nonzero()[:, 1]
        assert (((columns >= front - 3) & (columns < front)) | ((columns >= back) & (columns < back + 3))).all(), t


@pytest.mark.parametrize("window", [3, 5, 7])
@pytest.mark.parametrize("speed", [1, 8, 25])
def test_an_edge_that_moves_on_is_never_moved_whatever_its_speed(window, speed):
    truth = wipe(speed)
    assert torch.equal(steady(truth, window), truth)


def test_a_wider_window_removes_longer_flicker():
    truth = moving_block()
    noisy = truth.clone()
    noisy[8:10, 50:56, 80:90] = 1.0  # a blob that lasts two frames
    assert not torch.equal(steady(noisy, 3), truth)
    assert torch.equal(steady(noisy, 5), truth)


def test_what_covers_a_pixel_for_fewer_frames_than_half_the_window_goes():
    """The stated cost: a 2 px wide bar moving 5 px per frame covers each pixel for one frame only."""
    bar = moving_block(speed=5, width=2)
    assert steady(bar, 3)[1:-1].sum() == 0
    assert torch.equal(steady(moving_block(speed=5, width=10), 3), moving_block(speed=5, width=10))


def test_soft_masks_take_the_median_value():
    masks = torch.tensor([0.2, 0.9, 0.4, 0.4, 0.7]).view(5, 1, 1).expand(5, 2, 3)
    out = steady(masks, 3)
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.2, 0.4, 0.4, 0.4, 0.7]))


@pytest.mark.parametrize("count", [1, 3, 5, 7, 9])
def test_median_equals_torch_median(count):
    values = [torch.rand(4, 5) for _ in range(count)]
    assert torch.equal(median(values), torch.stack(values).median(0).values)


def test_window_one_and_the_clip_ends():
    masks = torch.rand(4, 3, 3)
    assert torch.equal(steady(masks, 1), masks)
    # the first frame's window repeats it: median(m0, m0, m1) = m0
    assert torch.equal(steady_frame(masks, 0, 3), masks[0])
