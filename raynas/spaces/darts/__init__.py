"""DARTS, split as the original code is: operations, genotypes, the fixed-genotype network, the search supernet.

Example:
    >>> net_args = dict(cell_widths=[16] * 3 + [32] * 3, reduction_cells=[2, 4], genotype=DARTS_V2)
    >>> eval_network_params(**net_args) == sum(p.numel() for p in EvalNetwork(**net_args).parameters())
    True
"""

from raynas.spaces.darts.genotypes import (
    DARTS_V1,
    DARTS_V2,
    PADDLESLIM_DARTS,
    Genotype,
    genotype_from_dict,
    genotype_to_dict,
    parse_genotype,
)
from raynas.spaces.darts.network import AuxiliaryHead, Cell, EvalNetwork, eval_network_params
from raynas.spaces.darts.operations import (
    OPS,
    PRIMITIVES,
    DilConv,
    FactorizedReduce,
    ReLUConvBN,
    SepConv,
    Zero,
    drop_path,
    op_params,
)
from raynas.spaces.darts.supernet import MixedOp, SearchCell, SearchNetwork, derive_edges

__all__ = [
    "AuxiliaryHead",
    "Cell",
    "DARTS_V1",
    "DARTS_V2",
    "DilConv",
    "EvalNetwork",
    "FactorizedReduce",
    "Genotype",
    "MixedOp",
    "OPS",
    "PADDLESLIM_DARTS",
    "PRIMITIVES",
    "ReLUConvBN",
    "SearchCell",
    "SearchNetwork",
    "SepConv",
    "Zero",
    "derive_edges",
    "drop_path",
    "eval_network_params",
    "genotype_from_dict",
    "genotype_to_dict",
    "op_params",
    "parse_genotype",
]
