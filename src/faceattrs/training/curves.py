"""Per-epoch loss curves of an attribute training run (loss_curves.png)."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], out_dir: Path) -> None:
    """Loss curves per head (train and val), like the seed's model_loss_age.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, head in zip(axes, ("age", "gender", "race", "total"), strict=True):
        ax.plot(epochs, [h[f"train_loss_{head}"] for h in history], label="train")
        ax.plot(epochs, [h[f"val_loss_{head}"] for h in history], label="val")
        ax.set_title(f"{head} loss")
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "loss_curves.png", dpi=100)
    plt.close(fig)
