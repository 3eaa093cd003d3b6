"""Chapter 8: an EmbeddingBagCollection sharded over two CPU processes with TorchRec (gloo).

Two tables, a big one (the catalogue) and a small one (genres). Rank 0 prints, in order:
1. the planner's plan with no memory limit, every table kept in whole rows (table-wise or
   row-wise; TorchRec's column-wise splits are left out here): each table whole on one rank;
2. the planner under a per-rank memory cap smaller than the big table: the stock sharder, which
   offers no row-wise sharding on CPU, finds no plan; a sharder that allows row-wise sharding on
   CPU splits the big table by rows;
3. that plan applied by DistributedModelParallel: the rows and bytes each rank holds; a forward
   pass compared with the unsharded tables (every rank its own batch); a backward pass with
   TorchRec's fused exact SGD, whose updated rows are compared with plain SGD on the unsharded
   tables (both batches); the median step time over the time of the same work in one process
   with the same fused kernel (the unsharded collection on a one-process group).

Run: torchrun --standalone --nproc_per_node=2 notebooks/torchrec_sharding.py [--json results.json]
(torch 2.13.0+cpu, torchrec 1.8.0, fbgemm-gpu-cpu 1.8.0: see requirements-torchrec.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings

import torch
import torch.distributed as dist

warnings.filterwarnings("ignore")  # TorchRec warns about GPU-only features on every import

import torchrec  # noqa: E402
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder  # noqa: E402
from torchrec.distributed.model_parallel import DistributedModelParallel  # noqa: E402
from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints, Topology  # noqa: E402
from torchrec.distributed.types import ShardingEnv, ShardingType  # noqa: E402
from fbgemm_gpu.split_embedding_configs import EmbOptimType  # noqa: E402

BIG_ROWS, SMALL_ROWS, DIM = 100_001, 20, 64  # an odd row count: the halves differ by one row
BATCH, IDS_PER_BAG, LR, STEPS = 512, 8, 0.1, 30
FUSED = {"optimizer": EmbOptimType.EXACT_SGD, "learning_rate": LR}


class RowWiseOnCPU(EmbeddingBagCollectionSharder):
    """The stock sharder, with row-wise sharding also allowed on CPU (the stock one offers
    data-parallel, table-wise and column-wise splits there, not row-wise)."""

    def sharding_types(self, compute_device_type: str) -> list[str]:
        types = super().sharding_types(compute_device_type)
        return types + [ShardingType.ROW_WISE.value] if ShardingType.ROW_WISE.value not in types else types


def collection(device: str) -> torchrec.EmbeddingBagCollection:
    return torchrec.EmbeddingBagCollection(device=torch.device(device), tables=[
        torchrec.EmbeddingBagConfig(name="catalogue", embedding_dim=DIM, num_embeddings=BIG_ROWS,
                                    feature_names=["catalogue_ids"]),
        torchrec.EmbeddingBagConfig(name="genres", embedding_dim=DIM, num_embeddings=SMALL_ROWS,
                                    feature_names=["genre_ids"]),
    ])


def full_weights() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"catalogue": torch.randn(BIG_ROWS, DIM, generator=generator) * 0.1,
            "genres": torch.randn(SMALL_ROWS, DIM, generator=generator) * 0.1}


def batch(rank: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s batch: BATCH bags of IDS_PER_BAG catalogue ids (both ends of the table
    included) and one genre each."""
    generator = torch.Generator().manual_seed(100 + rank)
    catalogue = torch.randint(0, BIG_ROWS, (BATCH * IDS_PER_BAG,), generator=generator)
    catalogue[:2] = torch.tensor([0, BIG_ROWS - 1])
    return {"catalogue": catalogue, "genres": torch.randint(0, SMALL_ROWS, (BATCH,), generator=generator)}


def jagged(ids: dict[str, torch.Tensor]) -> torchrec.KeyedJaggedTensor:
    lengths = torch.cat([torch.full((BATCH,), IDS_PER_BAG), torch.ones(BATCH, dtype=torch.int64)])
    return torchrec.KeyedJaggedTensor(keys=["catalogue_ids", "genre_ids"],
                                      values=torch.cat([ids["catalogue"], ids["genres"]]), lengths=lengths)


def reference(weights, ids) -> dict[str, torch.Tensor]:
    """The unsharded tables' pooled (sum) outputs, in plain torch."""
    offsets = torch.arange(0, BATCH * IDS_PER_BAG, IDS_PER_BAG)
    return {"catalogue_ids": torch.nn.functional.embedding_bag(ids["catalogue"], weights["catalogue"], offsets,
                                                               mode="sum"),
            "genre_ids": weights["genres"][ids["genres"]]}


def describe_plan(plan) -> list[str]:
    lines = []
    for module_plan in plan.plan.values():
        for table, option in module_plan.items():
            if option.sharding_spec is None:  # data parallel: a copy on every rank
                lines.append(f"  {table:<9} {option.sharding_type:<13} a full copy on every rank")
                continue
            shards = ", ".join(f"rank {s.placement.rank()}: rows {s.shard_offsets[0]}..{s.shard_offsets[0] + s.shard_sizes[0] - 1}"
                               for s in option.sharding_spec.shards)
            lines.append(f"  {table:<9} {option.sharding_type:<13} {shards}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the measured figures to this JSON file")
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    out = [] if rank == 0 else None
    say = out.append if rank == 0 else (lambda line: None)

    # 1. The planner, no memory limit. (Every rank plans alike: same module, same topology.)
    meta = collection("meta")
    table_bytes = BIG_ROWS * DIM * 4
    # Whole rows on each rank: table-wise or row-wise (no column-wise splits; no replicated copy,
    # which the planner would choose for the small table).
    constraints = {"catalogue": ParameterConstraints(sharding_types=["table_wise", "row_wise"]),
                   "genres": ParameterConstraints(sharding_types=["table_wise"])}
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=world, compute_device="cpu"),
                                       constraints=constraints)
    plan = planner.plan(meta, [EmbeddingBagCollectionSharder()])
    say(f"1. planner, no memory cap (the catalogue table is {table_bytes:,} bytes):")
    for line in describe_plan(plan):
        say(line)

    # 2. A per-rank memory cap below the catalogue table's size.
    cap = int(0.6 * table_bytes)
    capped = Topology(world_size=world, compute_device="cpu", ddr_cap=cap)
    say(f"2. planner, per-rank memory cap {cap:,} bytes:")
    try:
        EmbeddingShardingPlanner(topology=capped, constraints=constraints).plan(
            meta, [EmbeddingBagCollectionSharder()])
        say("  stock sharder: planned (unexpected)")
        refused = False
    except Exception as error:  # the planner's PlannerError
        refused = True
        say(f"  stock sharder: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
    row_wise = RowWiseOnCPU(fused_params=FUSED)
    plan = EmbeddingShardingPlanner(topology=capped, constraints=constraints).plan(meta, [row_wise])
    say("  sharder allowing row-wise on CPU:")
    for line in describe_plan(plan):
        say(line)

    # 3. The plan applied.
    model = DistributedModelParallel(meta, device=torch.device("cpu"), plan=plan, sharders=[row_wise],
                                     env=ShardingEnv.from_process_group(dist.group.WORLD))
    weights = full_weights()
    held = {name: [0, 0] for name in weights}  # rows, bytes held by this rank
    shards = []
    for key, value in model.state_dict().items():
        name = key.split(".")[-2]
        for shard in value.local_shards():
            (row0, col0), (rows, cols) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
            shard.tensor.copy_(weights[name][row0:row0 + rows, col0:col0 + cols])
            held[name][0] += rows
            held[name][1] += shard.tensor.numel() * shard.tensor.element_size()
            shards.append((name, row0, shard.tensor))
    all_held = [None] * world
    dist.all_gather_object(all_held, held)
    say("3. rows and bytes held by each rank:")
    for r, h in enumerate(all_held):
        say("  rank {}: ".format(r) + "; ".join(f"{name} {rows:,} rows, {size:,} bytes" for name, (rows, size) in h.items()))

    ids = batch(rank)
    pooled = model(jagged(ids))
    pooled = pooled.wait() if hasattr(pooled, "wait") else pooled
    expected = reference(weights, ids)
    forward_diff = max(float((pooled[key] - expected[key]).abs().max()) for key in expected)
    # Backward with the fused exact SGD: loss = sum of squared pooled outputs, over both ranks' batches.
    loss = sum(pooled[key].pow(2).sum() for key in expected)
    loss.backward()
    # Plain SGD on the unsharded tables with both batches: the rows each rank holds must match.
    # TorchRec averages the embedding gradients over the ranks (as DDP does for dense parameters),
    # so the loss it descends is the mean of the ranks' losses.
    leaves = {name: w.clone().requires_grad_(True) for name, w in weights.items()}
    total = sum(value.pow(2).sum() for r in range(world) for value in reference(leaves, batch(r)).values()) / world
    total.backward()
    updated = {name: (leaves[name] - LR * leaves[name].grad).detach() for name in leaves}
    backward_diff = max(float((tensor - updated[name][row0:row0 + tensor.shape[0]]).abs().max())
                        for name, row0, tensor in shards)
    diffs = torch.tensor([forward_diff, backward_diff])
    dist.all_reduce(diffs, op=dist.ReduceOp.MAX)
    say(f"  largest difference from the unsharded tables: forward {diffs[0]:.1e}, "
        f"rows after one SGD step {diffs[1]:.1e}")

    # Step time: the sharded step (each rank its batch) against one process doing both batches.
    def sharded_step():
        result = model(jagged(ids))
        result = result.wait() if hasattr(result, "wait") else result
        sum(v.pow(2).sum() for v in result.to_dict().values()).backward()

    sharded = []
    for _ in range(STEPS):
        dist.barrier()
        start = time.perf_counter()
        sharded_step()
        dist.barrier()
        sharded.append(time.perf_counter() - start)
    # The same work in one process, with the same fused kernel: the unsharded collection on a
    # process group of rank 0 alone, one step over both batches (the loss averaged, as above).
    alone = dist.new_group([0])
    single = []
    if rank == 0:
        sharder = EmbeddingBagCollectionSharder(fused_params=FUSED)
        one_plan = EmbeddingShardingPlanner(topology=Topology(world_size=1, compute_device="cpu"),
                                            constraints=constraints).plan(collection("meta"), [sharder])
        local = DistributedModelParallel(collection("meta"), device=torch.device("cpu"), plan=one_plan,
                                         sharders=[sharder], env=ShardingEnv.from_process_group(alone))
        both = [jagged(batch(r)) for r in range(world)]
        for _ in range(STEPS):
            start = time.perf_counter()
            loss = 0
            for kjt in both:
                result = local(kjt)
                result = result.wait() if hasattr(result, "wait") else result
                loss = loss + sum(v.pow(2).sum() for v in result.to_dict().values())
            (loss / world).backward()
            single.append(time.perf_counter() - start)
    dist.barrier()
    if rank == 0:
        ratio = statistics.median(sharded) / statistics.median(single)
        say(f"  step time: sharded {statistics.median(sharded) * 1e3:.1f} ms, one process "
            f"{statistics.median(single) * 1e3:.1f} ms (both batches, same kernel), ratio {ratio:.2f} "
            f"(medians of {STEPS})")
        print("\n".join(out), flush=True)
        if args.json:
            figures = {"planner_refused_capped": refused, "rows_per_rank": [h["catalogue"][0] for h in all_held],
                       "bytes_per_rank": [sum(size for _, size in h.values()) for h in all_held],
                       "big_rows": BIG_ROWS, "table_bytes": table_bytes, "cap_bytes": cap,
                       "forward_max_abs_diff": float(diffs[0]), "sgd_max_abs_diff": float(diffs[1]),
                       "sharded_step_ms": statistics.median(sharded) * 1e3,
                       "single_step_ms": statistics.median(single) * 1e3, "step_time_ratio": ratio}
            folder = os.path.dirname(os.path.abspath(args.json))
            handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(handle, "w") as file:
                json.dump(figures, file, indent=1)
            os.replace(temporary, args.json)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
