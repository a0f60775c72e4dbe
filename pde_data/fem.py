"""Small FEniCSx helpers shared by the generators: canonical vertex order, PETSc -> scipy,
point location. Everything a generator exports is in the canonical order, so files do not
depend on how dolfinx numbered its dofs."""

from __future__ import annotations

from mpi4py import MPI  # (load the MPI library before dolfinx/petsc4py)
from dolfinx import fem, geometry
import numpy as np
from petsc4py import PETSc
import scipy.sparse as sp

from sciml_grow.errors import InputError
from sciml_grow.operators.p1 import p1_gradients  # noqa: F401  (the generators' import)


def canonical_permutation(V: fem.FunctionSpace) -> np.ndarray:
    """``perm[dof]`` = index of the dof's vertex in the order the mesh was created with.

    For P1 on an affine mesh the dofs sit on the geometry nodes; the creation order
    (``input_global_indices``) is fixed by the mesh generator, not by dolfinx's reordering
    or the MPI partition.
    """
    msh = V.mesh
    dofs = V.dofmap.list
    maps = getattr(msh.geometry, "dofmaps", None)  # dolfinx 0.11; ``dofmap`` before
    nodes = msh.geometry.dofmap if maps is None else (maps(0) if callable(maps) else maps[0])
    if dofs.shape != nodes.shape:
        raise ValueError("canonical_permutation needs P1 on a degree-1 geometry")
    perm = np.empty(V.dofmap.index_map.size_local, dtype=np.int64)
    perm[dofs.ravel()] = np.asarray(msh.geometry.input_global_indices)[nodes.ravel()]
    xdof = V.tabulate_dof_coordinates()
    xnode = np.empty_like(xdof)
    xnode[dofs.ravel()] = msh.geometry.x[nodes.ravel()]
    if not np.allclose(xdof, xnode):
        raise RuntimeError("P1 dofs do not coincide with geometry nodes")
    return perm


def to_canonical(values_by_dof: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Reorder a dof vector (last axis) into canonical vertex order."""
    out = np.empty_like(values_by_dof)
    out[..., perm] = values_by_dof
    return out


def petsc_to_csr(A: PETSc.Mat, perm: np.ndarray) -> sp.csr_array:
    """A sequential PETSc matrix as a scipy CSR array in canonical order (rows and columns)."""
    indptr, indices, data = A.getValuesCSR()
    coo = sp.csr_array((data, indices, indptr), shape=A.getSize()).tocoo()
    out = sp.csr_array((coo.data, (perm[coo.row], perm[coo.col])), shape=coo.shape)
    out.sort_indices()
    return out


def mesh_arrays(V: fem.FunctionSpace, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex coordinates (canonical order, gdim columns) and cells as canonical vertex ids."""
    msh = V.mesh
    gdim = msh.geometry.dim
    coords = np.empty((perm.size, gdim))
    coords[perm] = V.tabulate_dof_coordinates()[:, :gdim]
    cells = perm[V.dofmap.list]
    return coords, cells.astype(np.int64)


def locate_points(msh, points: np.ndarray) -> np.ndarray:
    """Index of a cell containing each point; a clear error for points outside the mesh."""
    pts = np.zeros((len(points), 3))
    pts[:, : points.shape[1]] = points
    tdim = msh.topology.dim
    tree = geometry.bb_tree(msh, tdim)
    candidates = geometry.compute_collisions_points(tree, pts)
    colliding = geometry.compute_colliding_cells(msh, candidates, pts)
    cells = np.empty(len(points), dtype=np.int32)
    for i in range(len(points)):
        links = colliding.links(i)
        if len(links) == 0:
            raise InputError(f"sensor point {points[i].tolist()} lies outside the mesh")
        if len(links) > 1:  # collisions have a tolerance: take the cell it is really in
            d2 = geometry.squared_distance(msh, tdim, links, np.tile(pts[i], (len(links), 1)))
            links = links[np.argsort(d2, kind="stable")]
        cells[i] = links[0]
    return cells


def lu_solver(A: PETSc.Mat) -> PETSc.KSP:
    """A direct solver for a small sequential system; the factorization's symbolic part is
    reused while A keeps its sparsity pattern."""
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOperators(A)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("petsc")
    return ksp


def evaluation_matrix(msh, coords: np.ndarray, cells: np.ndarray, points: np.ndarray):
    """The P1 point-evaluation matrix (points x vertices, canonical order) at ``points`` of
    ``msh``: how sensors and output grids read a field (a clear error for points outside)."""
    from pde_data.observe import point_matrix

    return point_matrix(coords, cells, locate_points(msh, points), points)
