"""Which classification defaults train well (docs/real-data.md section 2b): variants of
early stopping on UEA/UCR datasets (sktime's bundled copies), 3 seeds, one JSON line per run.

    python bench/classification_defaults.py GunPoint,ItalyPowerDemand A_valloss_p30,B_valloss_p30_start100

Variants (``VARIANTS``): A the classification defaults (GRU(64), Adam 3e-3, batch 32, clip
norm 1, a stratified 20% validation part, patience 30 on its loss); B the same with no stop
before epoch 100; E no validation part, patience 30 on the training loss; others as named.
Needs sktime (``pip install -e '.[panel]'``)."""
import json, random, sys, time
import numpy as np
from rnnx.data import panel
from rnnx.training import engine
from rnnx.nn.model import Model
from rnnx.training import EarlyStopping


def split(y, f, seed):
    rng = random.Random(f"{seed}:split"); g = {}
    for i, c in enumerate(y): g.setdefault(c, []).append(i)
    tr, va = [], []
    for c in sorted(g):
        m = g[c]; rng.shuffle(m); k = round(len(m) * f); va += m[len(m)-k:]; tr += m[:len(m)-k]
    return sorted(tr), sorted(va)

def run(name, seed, variant, epochs=300):
    tr_, te_ = (panel.load_ts(panel.bundled_uea(name, s)) for s in ("train", "test"))
    classes = np.unique(tr_.y); y = np.searchsorted(classes, tr_.y); yte = np.searchsorted(classes, te_.y)
    f = variant.get("val", 0.2)
    tr, va = split(list(y), f, seed) if f else (list(range(len(y))), [])
    flat = tr_.x[tr].reshape(-1, tr_.x.shape[2]); mu, sd = flat.mean(0), flat.std(0); sd = np.where(sd > 0, sd, 1)
    z = lambda a: (a - mu) / sd
    m = Model(variant.get("cell", "gru"), tr_.x.shape[2], variant.get("hidden", 64), len(classes), objective="many-to-one")
    mon = variant.get("monitor", "val_loss" if va else "loss")
    mode = "max" if "accuracy" in mon else "min"
    cb = EarlyStopping(variant["patience"], start_from_epoch=variant.get("start", 0), monitor=mon, mode=mode,
                       min_delta=variant.get("min_delta", 0.0))
    t0 = time.perf_counter()
    r = engine.fit(m, z(tr_.x[tr]), y[tr], validation_data=(z(tr_.x[va]), y[va]) if va else None, epochs=epochs,
                    batch_size=32, optimizer="adam", lr=variant.get("lr", 3e-3), loss="cross-entropy", clip_norm=1.0,
                    seed=seed, callbacks=[cb])
    pred = np.asarray(engine.predict(m, r.params, z(te_.x))).argmax(-1)
    return {"dataset": name, "seed": seed, "variant": variant, "acc": float(np.mean(pred == yte)),
            "epochs": len(r.history), "best": r.best_epoch, "s": time.perf_counter() - t0}

VARIANTS = {
 "A_valloss_p30": {"patience": 30},
 "B_valloss_p30_start100": {"patience": 30, "start": 100},
 "C_valacc_p30": {"patience": 30, "monitor": "val_accuracy"},
 "D_valloss_p100": {"patience": 100},
 "E_trainloss_p30_noval": {"patience": 30, "val": 0.0},
 "F_val0.3_p30": {"patience": 30, "val": 0.3},
 "G_valloss_p50_start50": {"patience": 50, "start": 50},
}
if __name__ == "__main__":
    names = sys.argv[1].split(","); keys = sys.argv[2].split(",") if len(sys.argv) > 2 else list(VARIANTS)
    for name in names:
        for k in keys:
            for seed in (0, 1, 2):
                o = run(name, seed, VARIANTS[k]); o["key"] = k
                print(json.dumps(o), flush=True)
