"""Analysis of a search: the DataFrame of a real search, the Pareto front, plots, exports and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_search, write_table

from raynas import analysis, cli, spaces
from raynas.results import SEARCH_COLUMNS
from raynas.settings import SearchSettings
from raynas.spaces.channel import WIDTHS
from raynas.spaces.tabular import TabularSpace

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = spaces.get("small_channel")


def assert_png(path: Path) -> None:
    data = Path(path).read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE), path


# -- a real small search ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_search(ray_session, tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    outcome = run_search(
        folder, name="digits", searcher="sanas", max_params=38_000, num_samples=5, epochs=2, concurrency=2, warm_start=0
    )
    return folder, outcome


@pytest.mark.slow
def test_dataframe_of_a_real_search(digits_search):
    folder, outcome = digits_search
    df = analysis.load(str(folder), "digits")
    labels = SMALL.labels()
    assert list(df.columns) == ["search", "trial_index", "trial_id", "status", "tokens", *labels, *SEARCH_COLUMNS[4:]]
    assert df.trial_index.tolist() == [0, 1, 2, 3, 4]  # the order the searcher proposed them
    assert df.tokens.iloc[0] == SMALL.init_tokens()  # without a warm start, SA starts from the space's start
    assert (df.status == "TERMINATED").all() and (df.search == "digits").all()
    for _, row in df.iterrows():
        assert [row[label] for label in labels] == [WIDTHS[t] for t in row.tokens]
        assert row.params == SMALL.num_params(row.tokens) <= 38_000
        assert row.epochs == 2 and row.wall_time_s > 0 and row.device == "cpu" and row.node_ip
        assert 0 < row.val_acc <= 1
    expected = outcome.results.set_index("trial_id").loc[df.trial_id]
    assert df.reward.tolist() == pytest.approx(expected.reward.tolist())
    best = df.loc[df.reward.idxmax()]
    assert best.trial_id == outcome.best["trial_id"]


@pytest.mark.slow
def test_analyze_writes_plots_and_exports_the_best_within_a_tighter_budget(digits_search, capsys, monkeypatch):
    folder, outcome = digits_search
    df = analysis.load(str(folder), "digits")
    tighter = int(df.params.min())  # only the smallest architecture fits
    monkeypatch.chdir(folder)
    assert (
        cli.main(["analyze", "--storage-path", ".", "--name", "digits", "--max-params", str(tighter), "--out", "out"])
        == 0
    )
    exported = json.loads((folder / "out" / "digits" / "best_arch.json").read_text())
    smallest = df.loc[df.params.idxmin()]
    assert exported["trial_id"] == smallest.trial_id and exported["params"] == tighter
    assert exported["tokens"] == smallest.tokens and exported["arch"] == SMALL.to_arch(smallest.tokens)
    assert set(exported) == set(outcome.best)  # the format the search writes
    for plot in ("best_so_far.png", "digits/params_reward.png", "digits/top_labels.png"):
        assert_png(folder / "out" / plot)
    out = capsys.readouterr().out
    assert "Pareto front" in out and f"within {tighter:,} params" in out
    # every path printed is absolute, wherever the command ran
    assert f"-> {folder}/out/digits/best_arch.json; plots {folder}/out/digits/params_reward.png" in out
    assert f"every search: {folder}/out/best_so_far.png" in out

    # without a tighter budget the export is the search's own best_arch.json, test accuracy included
    assert cli.main(["analyze", "--storage-path", str(folder), "--name", "digits"]) == 0
    assert json.loads((folder / "digits" / "analysis" / "digits" / "best_arch.json").read_text()) == outcome.best
    # --out at the storage path would replace the search's own best_arch.json with the export
    before = (folder / "digits" / "best_arch.json").read_text()
    with pytest.raises(
        ValueError,
        match=f"out {folder} would write over the own best_arch.json of the search in "
        f"{folder}/digits; give another folder",
    ):
        analysis.analyze(str(folder), ["digits"], tighter, str(folder))
    # so would an --out that holds another search of that name
    (folder / "elsewhere" / "digits").mkdir(parents=True)
    (folder / "elsewhere" / "digits" / "raynas_search.json").write_text("{}")
    with pytest.raises(ValueError, match=f"out {folder}/elsewhere would write over the own best_arch.json"):
        analysis.analyze(folder, "digits", out=str(folder / "elsewhere"))
    assert (folder / "digits" / "best_arch.json").read_text() == before
    assert [p.name for p in (folder / "elsewhere" / "digits").iterdir()] == ["raynas_search.json"]
    # a budget as the flag takes it
    thousands = tighter // 1000 + 1
    assert analysis.analyze(folder, "digits", f"{thousands}k", str(folder / "k")).loc[0, "best reward"] == round(
        float(analysis.best_row(df, thousands * 1000)["reward"]), 4
    )


# -- the Pareto front ------------------------------------------------------------------------------------------
def test_pareto_front_of_a_hand_made_table_with_ties():
    table = pd.DataFrame(
        {
            "trial_id": list("abcdefghij"),
            "params": [100, 100, 200, 200, 300, 150, 400, 400, 50, 500],
            "reward": [0.6, 0.6, 0.8, 0.7, 0.8, 0.6, 0.9, None, 0.1, 0.95],
            "status": ["TERMINATED"] * 9 + ["ERROR"],
        }
    )
    front = analysis.pareto(table)
    # a and b tie exactly (both kept); f has more params for the same reward as a; d loses to c; e has more
    # params for c's reward; h has no reward; the failed j does not count
    assert front.trial_id.tolist() == ["i", "a", "b", "c", "g"]
    assert front.params.is_monotonic_increasing and front.reward.is_monotonic_increasing
    assert analysis.pareto(analysis.within(table, 199)).trial_id.tolist() == ["i", "a", "b"]  # --max-params
    stopped = table.assign(stopped=[False] * 6 + [True] + [False] * 3)  # g was cut early by ASHA
    assert analysis.pareto(stopped).trial_id.tolist() == ["i", "a", "b", "c"]


def test_a_one_shot_search_is_ranked_by_its_retrained_subnets():
    subnets = pd.DataFrame(
        {
            "trial_index": [0, 1, 2],
            "trial_id": list("abc"),
            "params": [100, 200, 300],
            "reward": [0.9, 0.5, 0.7],
            "status": ["TERMINATED"] * 3,
            "retrained_reward": [0.80, None, 0.85],
        }
    )  # a and c retrained; c trains better
    assert analysis.ranking(subnets) == "retrained_reward" and analysis.best_row(subnets, name="os").trial_id == "c"
    assert analysis.best_row(subnets, max_params=250, name="os").trial_id == "a"
    # no retrained subnet within the budget: the best there by its shared-weight score
    assert (
        analysis.best_row(
            subnets.assign(params=[150, 200, 300]).assign(retrained_reward=[None, None, 0.85]),
            max_params=250,
            name="os",
        ).trial_id
        == "a"
    )
    not_yet = subnets.assign(retrained_reward=None)  # retraining has not finished: the shared-weight score
    assert analysis.ranking(not_yet) == "reward" and analysis.best_row(not_yet, name="os").trial_id == "a"


def test_pareto_of_a_users_own_frame_needs_only_params_and_reward():
    mine = pd.DataFrame({"params": [10, 20, 30], "reward": [0.5, 0.4, 0.9]})  # no status: all finished
    assert analysis.pareto(mine).params.tolist() == [10, 30]
    with pytest.raises(ValueError, match="^the trials have no column 'params'; pass a frame of raynas.analysis.load"):
        analysis.pareto(mine.drop(columns="params"))


# -- hand-made searches: fast, no Ray --------------------------------------------------------------------------
def fake_search(root: Path, name: str, table: Path, rewards: dict[str, float], **changes) -> pd.DataFrame:
    """A stored search on ``table``: its settings and a results.csv with one row per key of ``rewards``."""
    space = TabularSpace(str(table))
    (root / name).mkdir(parents=True)
    settings = SearchSettings(space="tabular", space_kwargs={"path": str(table)}, name=name, max_params=15_000)
    (root / name / "raynas_search.json").write_text(settings.to_json())
    rows = []
    for i, (key, reward) in enumerate(rewards.items()):
        tokens = [int(d) - 1 for d in key]
        rows.append(
            {
                "trial_index": i,
                "trial_id": f"{name}{i:03d}",
                "status": "TERMINATED",
                "tokens": json.dumps(tokens),
                "params": space.num_params(tokens),
                "reward": reward,
                "val_acc": reward,
                "epochs": 1,
            }
        )
    frame = pd.DataFrame(rows, columns=SEARCH_COLUMNS)
    frame = frame.drop(columns=changes.get("drop", []))
    (root / name / "results.csv").write_text(frame.to_csv(index=False) + changes.get("tail", ""))
    return frame


REWARDS = {"111": 0.55, "213": 0.62, "131": 0.60, "222": 0.66, "311": 0.58, "123": 0.61}


def test_running_search_loads_its_finished_rows_only(tmp_path):
    table = write_table(tmp_path / "table.json")
    fake_search(tmp_path, "live", table, REWARDS, tail="6,live006,TERMIN")  # the driver is writing a row
    df = analysis.load(str(tmp_path), "live")
    assert df.trial_id.tolist() == [f"live{i:03d}" for i in range(6)]
    assert df[["position_0", "position_1", "position_2"]].iloc[1].tolist() == [2, 1, 3]


def test_choices_of_none_and_lists_stay_values_a_user_can_group_by(tmp_path, capsys):
    space = spaces.get("user_spaces:JsonChoices")
    (tmp_path / "js").mkdir()
    settings = SearchSettings(space="user_spaces:JsonChoices", name="js")
    (tmp_path / "js" / "raynas_search.json").write_text(settings.to_json())
    tokens = [[0, 0, 0, 0], [2, 1, 1, 1], [2, 0, 0, 2]]
    rows = [
        {
            "trial_index": i,
            "trial_id": f"t{i}",
            "status": "TERMINATED",
            "tokens": json.dumps(t),
            "params": space.num_params(t),
            "reward": 0.5 + i / 10,
            "val_acc": 0.5,
            "epochs": 1,
        }
        for i, t in enumerate(tokens)
    ]
    (tmp_path / "js" / "results.csv").write_text(pd.DataFrame(rows, columns=SEARCH_COLUMNS).to_csv(index=False))
    df = analysis.load(str(tmp_path), "js")
    assert df.activation.tolist() == [None, "relu", None]  # not NaN
    assert df.batch_norm.tolist() == [False, True, False]
    assert df.groupby("kernel_stride").reward.max().to_dict() == {(3, 1): 0.5, (5, 1): 0.6, (3, 2): 0.7}
    by_activation = df.groupby("activation", dropna=False).reward.max()  # pandas' groupby leaves None out else
    assert len(by_activation) == 2 and by_activation["relu"] == 0.6 and by_activation.max() == 0.7
    analysis.analyze(str(tmp_path), ["js"])
    assert_png(tmp_path / "js" / "analysis" / "js" / "top_labels.png")


def test_a_label_with_thousands_of_values_plots_those_chosen(tmp_path, monkeypatch):
    from torch import nn

    from raynas.spaces.choices import InputChoice, ModelSpace

    class Pick(nn.Module):  # 9 of 18 inputs: 48,620 values
        def __init__(self):
            super().__init__()
            self.pick, self.fc = InputChoice(18, n_chosen=9, label="pick"), nn.Linear(1, 1)

    space = ModelSpace(Pick())
    options = space.option_names()[0]
    chosen = [options[i % 40] for i in range(400)]  # the top 10 %: 40 trials, 40 values, each once
    frame = pd.DataFrame(
        {"status": "TERMINATED", "reward": [i / 400 for i in range(400)], "pick": chosen, "search": "p"}
    )
    drawn = {}

    def keep(fig, path):
        ax = fig.axes[0]
        drawn.update(bars=len(ax.patches), title=ax.get_title(), ticks=[t.get_text() for t in ax.get_xticklabels()])
        return path

    monkeypatch.setattr(analysis, "_save", keep)
    analysis.plot_top_labels(frame, space, str(tmp_path / "top_labels.png"))
    assert drawn["bars"] == analysis.MAX_BARS and drawn["title"] == "pick (30 of 48,620 values)"
    assert set(drawn["ticks"]) <= set(chosen[-40:])  # values the top trials chose, by name (in0+in3+...)


def test_several_searches_one_best_so_far_plot(tmp_path, capsys):
    table = write_table(tmp_path / "table.json")
    fake_search(tmp_path, "one", table, REWARDS)
    fake_search(tmp_path, "two", table, dict(reversed(REWARDS.items())))
    summary = analysis.analyze(str(tmp_path), ["one", "two"], out=str(tmp_path / "both"))
    assert summary["search"].tolist() == ["one", "two"] and summary["best reward"].tolist() == [0.66, 0.66]
    assert_png(tmp_path / "both" / "best_so_far.png")
    # a table replay's export gets the table's accuracy as its test accuracy
    best = json.loads((tmp_path / "both" / "two" / "best_arch.json").read_text())
    assert best["tokens"] == [1, 1, 1] and best["test_acc"] == TabularSpace(str(table)).accuracy([1, 1, 1])
    assert best["data"] is None  # a table replay trains on no dataset


def test_a_search_with_no_finished_trial_is_left_out_of_a_comparison(tmp_path, capsys):
    table = write_table(tmp_path / "table.json")
    fake_search(tmp_path, "one", table, REWARDS)
    failed = fake_search(tmp_path, "failed", table, REWARDS).assign(status="ERROR")
    (tmp_path / "failed" / "results.csv").write_text(failed.to_csv(index=False))
    summary = analysis.analyze(str(tmp_path), ["one", "failed"], out=str(tmp_path / "both"))
    assert summary["search"].tolist() == ["one"]
    assert "search 'failed' has no finished trial" in capsys.readouterr().out
    with pytest.raises(analysis.NoFinishedTrial, match="search 'failed' has no finished trial"):
        analysis.analyze(str(tmp_path), ["failed"])  # alone, there is nothing to show
    with pytest.raises(ValueError, match="table.json is a file; give a folder for the plots"):
        analysis.analyze(str(tmp_path), ["one"], out=str(table))


def test_a_table_replay_is_plotted_as_the_tables_accuracy(tmp_path, monkeypatch):
    table = write_table(tmp_path / "table.json")
    fake_search(tmp_path, "replay", table, REWARDS)
    labels = []
    for plot, at in (("plot_params_reward", 4), ("plot_best_so_far", 2)):  # where each takes its axis label

        def recording(*args, _real=getattr(analysis, plot), _at=at, **kwargs):  # noqa: B008 (bound per plot)
            labels.append(args[_at])
            return _real(*args, **kwargs)

        monkeypatch.setattr(analysis, plot, recording)
    analysis.analyze(str(tmp_path), ["replay"])
    assert labels == ["reward (default accuracy of the table, fraction)"] * 2  # not a validation accuracy
    assert (
        analysis.reward_axis(TabularSpace(str(table), metric="mean")) == "reward (mean accuracy of the table, fraction)"
    )
    assert analysis.reward_axis(None) == analysis.REWARD_AXIS == "reward (validation accuracy, fraction)"


@pytest.mark.parametrize(
    "setup,args,message",
    [
        ("ok", ["--name", "nope"], "no raynas run named 'nope'"),
        ("no-reward", ["--name", "s"], "has no column reward; it needs trial_index"),
        (
            "ok",
            ["--name", "s", "--max-params", "1k"],
            "--max-params 1,000 is below every finished trial of search 's' (the smallest has 6,000 params)",
        ),
        ("broken-csv", ["--name", "s"], "s/results.csv cannot be read as CSV"),
        ("broken-settings", ["--name", "s"], "s/raynas_search.json is not valid JSON"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, setup, args, message):
    table = write_table(tmp_path / "table.json")
    fake_search(
        tmp_path,
        "s",
        table,
        REWARDS,
        drop=["reward"] if setup == "no-reward" else [],
        tail='7,"s007,TERMINATED\n' if setup == "broken-csv" else "",
    )
    if setup == "broken-settings":
        (tmp_path / "s" / "raynas_search.json").write_text("{bad")
    assert cli.main(["analyze", "--storage-path", str(tmp_path), *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("raynas: error: ") and message in lines[0], lines
    assert not (tmp_path / "s" / "analysis").exists()  # nothing half-written


def fake_oneshot(tmp_path: Path) -> tuple[list[int], ...]:
    """A one-shot search ``os``: four subnets scored on the shared weights, the two best retrained, the largest
    best; returns their tokens, smallest first."""
    from raynas.spaces.build import space_for

    space = space_for("small_channel", {}, "digits")
    (tmp_path / "os").mkdir()
    (tmp_path / "os" / "raynas_search.json").write_text(SearchSettings(searcher="oneshot", name="os").to_json())

    def write(folder: str, rows: list[tuple[list[int], float, float]]) -> None:
        frame = pd.DataFrame(
            [
                {
                    "trial_index": i,
                    "trial_id": f"{folder}{i}",
                    "status": "TERMINATED",
                    "tokens": json.dumps(t),
                    "params": space.num_params(t),
                    "reward": reward,
                    "val_acc": val_acc,
                    "epochs": 1,
                }
                for i, (t, reward, val_acc) in enumerate(rows)
            ],
            columns=SEARCH_COLUMNS,
        )
        (tmp_path / "os" / folder).mkdir()
        (tmp_path / "os" / folder / "results.csv").write_text(frame.to_csv(index=False))

    # four subnets scored on the shared weights; the two best retrained, the largest best
    small, mid, large, largest = [1] * 4, [2] * 4, [3] * 4, [4] * 4
    write("subnets", [(small, 0.30, 0.30), (mid, 0.40, 0.40), (large, 0.45, 0.45), (largest, 0.50, 0.50)])
    write("retrain", [(large, 0.90, 0.91), (largest, 0.92, 0.93)])
    (tmp_path / "os" / "best_arch.json").write_text(json.dumps({"tokens": largest, "reward": 0.92}))
    return small, mid, large, largest


def test_a_one_shot_search_within_a_budget_exports_what_its_best_there_is(tmp_path, capsys):
    space = spaces.get("small_channel")
    _, mid, large, _ = fake_oneshot(tmp_path)

    # within the params of `large`: the retrained `large`, with its trained accuracy and its shared-weight score
    summary = analysis.analyze(tmp_path, "os", max_params=space.num_params(large), out=str(tmp_path / "a"))
    record = json.loads((tmp_path / "a" / "os" / "best_arch.json").read_text())
    assert (record["tokens"], record["reward"], record["val_acc"], record["oneshot_val_acc"]) == (
        large,
        0.90,
        0.91,
        0.45,
    )
    assert summary.loc[0, "best reward"] == 0.9
    # within the params of `mid`: no retrained subnet; the best by its score, which is no trained accuracy
    capsys.readouterr()
    summary = analysis.analyze(tmp_path, ["os"], max_params=space.num_params(mid), out=str(tmp_path / "b"))
    record = json.loads((tmp_path / "b" / "os" / "best_arch.json").read_text())
    assert (record["tokens"], record["reward"], record["val_acc"], record["oneshot_val_acc"]) == (mid, 0.40, None, 0.40)
    assert summary.loc[0, "best reward"] == 0.4
    assert "os: no retrained subnet within" in capsys.readouterr().out
    with pytest.raises(ValueError, match="^no search to analyze: give the name of one or more searches$"):
        analysis.analyze(tmp_path, [])


# -- plots and names that say what they show -------------------------------------------------------------------
def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def assert_legend_covers_no_point(fig) -> None:
    """The legend lies outside the axes, and no plotted point is inside it (in display coordinates)."""
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the axes
    points = [p for c in ax.collections for p in ax.transData.transform(c.get_offsets())]
    assert points and not any(legend.contains(x, y) for x, y in points)


def test_a_one_shot_search_plots_its_score_and_its_retrained_accuracies_apart(tmp_path):
    _, _, large, largest = fake_oneshot(tmp_path)
    summary = analysis.analyze(tmp_path, "os")
    frame = analysis.load(tmp_path, "os")
    fig = analysis.params_reward_figure(frame, {}, reward_label=analysis.reward_axis(None, True), shared=True)
    ax = fig.axes[0]
    assert ax.get_ylabel() == analysis.SHARED_AXIS and "one-shot score (shared weights)" in ax.get_ylabel()
    texts = legend_texts(ax)
    assert texts[0] == "trials (one-shot score (shared weights), 4)"
    assert f"{analysis.RETRAINED} (2)" in texts and texts[-1] == "best (retrained 0.9200)"
    retrained = ax.collections[texts.index(f"{analysis.RETRAINED} (2)")]
    assert retrained.get_offsets()[:, 1].tolist() == [0.90, 0.92]
    ring = ax.collections[-1].get_offsets()[0]  # the best as the summary says it
    assert ring[1] == summary.loc[0, "best reward"] == 0.92
    assert_legend_covers_no_point(fig)

    fig = analysis.best_so_far_figure({"os": frame}, analysis.SHARED_AXIS, ["os"])
    ax = fig.axes[0]
    assert legend_texts(ax) == ["os (one-shot score (shared weights), 4 trials)", f"os: {analysis.RETRAINED} (2)"]
    assert ax.collections[0].get_offsets().tolist() == [[3, 0.90], [4, 0.92]]  # at the subnets' trial numbers
    assert ax.get_ylabel() == f"best {analysis.SHARED_AXIS} so far"


def test_the_legend_of_params_reward_covers_no_point(tmp_path):
    table = write_table(tmp_path / "table.json")
    fake_search(tmp_path, "one", table, REWARDS)
    frame = analysis.load(tmp_path, "one")
    fig = analysis.params_reward_figure(frame, {"search budget": 15_000})
    ax = fig.axes[0]
    assert ax.get_xlabel() == analysis.PARAMS_AXIS and ax.get_ylabel() == analysis.REWARD_AXIS
    assert legend_texts(ax)[:2] == ["trials (6)", f"Pareto front ({len(analysis.pareto(frame))})"]
    assert_legend_covers_no_point(fig)


def test_several_searches_are_plotted_beside_them_not_in_the_first(tmp_path):
    table = write_table(tmp_path / "table.json")
    fake_search(tmp_path, "one", table, REWARDS)
    fake_search(tmp_path, "two", table, REWARDS)
    summary = analysis.analyze(tmp_path, ["one", "two"])
    assert summary.attrs["best_so_far"] == str(tmp_path / "analysis" / "best_so_far.png")
    assert_png(tmp_path / "analysis" / "two" / "params_reward.png")
    assert not (tmp_path / "one" / "analysis").exists()
    assert analysis.analyze(tmp_path, ["one"]).attrs["best_so_far"] == str(
        tmp_path / "one" / "analysis" / "best_so_far.png"
    )


def test_unnamed_candidates_and_inputs_show_by_name_and_best_arch_keeps_the_indices(tmp_path, monkeypatch):
    from torch import nn

    from raynas.spaces.choices import InputChoice, LayerChoice, ModelSpace

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.op = LayerChoice([nn.ReLU(), nn.Tanh(), nn.Tanh()], label="op")
            self.skip = InputChoice(3, n_chosen=2, label="skip")

    space = ModelSpace(Net())
    assert analysis.chosen(space, [1, 1]) == {"op": "Tanh 1", "skip": "in0+in2"}
    assert space.to_arch([1, 1]) == {"op": 1, "skip": [0, 2]}  # best_arch.json's arch: NNI's values
    frame = pd.DataFrame(
        [{"status": "TERMINATED", "reward": 0.5, "search": "n", **analysis.chosen(space, [t, t])} for t in (0, 1)]
    )
    drawn = {}

    def keep(fig, path):
        drawn.update({ax.get_title(): [t.get_text() for t in ax.get_xticklabels()] for ax in fig.axes[:2]})
        return path

    monkeypatch.setattr(analysis, "_save", keep)
    analysis.plot_top_labels(frame, space, str(tmp_path / "top_labels.png"), share=1.0)
    assert drawn == {"op": ["ReLU", "Tanh 1", "Tanh 2"], "skip": ["in0+in1", "in0+in2", "in1+in2"]}
