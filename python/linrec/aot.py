"""Load and call kernel libraries made by linrec-compile, from plain Python.

Needs only ctypes and NumPy (and PyTorch for GPU tensors): no LLVM, no MLIR, no linrec build.
This is how a machine without the toolchain (a lent GPU) runs linrec kernels: as
``linrec.aot`` from the installed package, or this file alone, imported by path.

    kernel = AotKernel("out/gated_deltanet.json")
    kernel(q=q, k=k, v=v, g=g, beta=beta, o=o, final_state=s)   # every operand and result

Arrays are NumPy arrays (CPU libraries) or CUDA torch tensors (CUDA libraries), contiguous,
of the dtypes and trailing dims the manifest lists; results are written in place.
"""
import ctypes
import functools
import json
import os

_DTYPE_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "f64": 8, "i32": 4}


@functools.lru_cache(maxsize=None)
def _descriptor_type(rank):
    """The memref descriptor {allocated, aligned, offset, sizes[rank], strides[rank]}."""
    fields = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
              ("offset", ctypes.c_int64)]
    if rank:
        fields += [("sizes", ctypes.c_int64 * rank), ("strides", ctypes.c_int64 * rank)]
    return type(f"MemRef{rank}D", (ctypes.Structure,), {"_fields_": fields})


def _buffer(array, on_gpu):
    """(address, shape, element bytes, dtype name) of a contiguous NumPy array or torch tensor;
    GPU libraries take CUDA tensors, CPU libraries host memory."""
    if hasattr(array, "data_ptr"):  # torch
        if not array.is_contiguous():
            raise ValueError("tensors must be contiguous")
        if array.is_cuda != on_gpu:
            raise ValueError("a CUDA library takes CUDA tensors" if on_gpu
                             else "a CPU library takes CPU tensors or NumPy arrays")
        name = {"torch.float32": "f32", "torch.bfloat16": "bf16", "torch.float16": "f16",
                "torch.float64": "f64", "torch.int32": "i32"}.get(str(array.dtype))
        return array.data_ptr(), tuple(array.shape), array.element_size(), name
    if on_gpu:
        raise ValueError("a CUDA library takes CUDA tensors, not NumPy arrays")
    if not array.flags["C_CONTIGUOUS"]:
        raise ValueError("arrays must be C-contiguous")
    name = {"float32": "f32", "float16": "f16", "float64": "f64", "int32": "i32",
            "bfloat16": "bf16"}.get(str(array.dtype), str(array.dtype))
    return array.ctypes.data, tuple(array.shape), array.itemsize, name


class AotKernel:
    def __init__(self, manifest_path):
        with open(manifest_path) as f:
            self.manifest = json.load(f)
        directory = os.path.dirname(os.path.abspath(manifest_path))
        self.library = ctypes.CDLL(os.path.join(directory, self.manifest["library"]))
        self.entry = getattr(self.library, self.manifest["entry"])
        self.entry.restype = None
        self.on_gpu = self.manifest["target"] == "cuda"
        if self.on_gpu:
            self.library.linrecGpuTakeError.restype = ctypes.c_int
        self.operands = self.manifest["operands"]
        self.results = self.manifest["results"]
        self.names = [spec["name"] for spec in self.operands + self.results]
        self._constants = {}
        # A CUDA library loads its PTX when it is opened: report a failure now.
        self.load_error = self.take_error()

    def take_error(self):
        """The first GPU launch failure since the last call, or None."""
        if not self.on_gpu:
            return None
        buffer = ctypes.create_string_buffer(1024)
        if self.library.linrecGpuTakeError(buffer, len(buffer)):
            return buffer.value.decode()
        return None

    def _rows(self, arrays):
        """The state rows: B, or the sequences of cu_seqlens (the int32 operand, N + 1 offsets)."""
        if self.manifest["varlen"]:
            offsets = next(s["name"] for s in self.operands if s["dtype"] == "i32")
            return arrays[offsets].shape[0] - 1
        return arrays[self.operands[0]["name"]].shape[0]

    def work_items(self, arrays):
        """Sequences x heads x value tiles (x token blocks), from input #0's [B, T, H, ...]."""
        first = arrays[self.operands[0]["name"]]
        heads, rows = first.shape[2], self._rows(arrays)
        groups = -(-heads // self.manifest["heads_per_item"])
        items = rows * groups * self.manifest["value_tiles"]
        block = self.manifest.get("token_block", 0)
        return items * -(-first.shape[1] // block) if block else items

    def constant(self, spec):
        """The array of an operand the layer holds as a constant (its values in the manifest)."""
        if spec["name"] not in self._constants:
            import numpy as np
            dtype = {"f64": np.float64, "f32": np.float32}[spec["dtype"]]
            array = np.asarray(spec["value"], dtype=dtype)
            if self.on_gpu:
                import torch
                array = torch.from_numpy(array).cuda()
            self._constants[spec["name"]] = array
        return self._constants[spec["name"]]

    def _check_leading_dims(self, arrays):
        """B, T, H (and N) agree across the buffers: the kernel trusts them."""
        m = self.manifest
        first = arrays[self.operands[0]["name"]].shape
        batch, tokens, heads = first[0], first[1], first[2]
        rows = self._rows(arrays)
        n_in, n_par, n_init = m["num_inputs"], m["num_params"], m["num_inits"]
        expected = []
        for i, spec in enumerate(self.operands):
            if i < n_in:
                expected.append((spec, (batch, tokens, heads)))
            elif i < n_in + n_par:
                expected.append((spec, (heads,)))
            elif i < n_in + n_par + n_init:
                expected.append((spec, (rows, heads)))
        for j, spec in enumerate(self.results):
            expected.append((spec, (batch, tokens, heads) if j < m["num_outputs"] else (rows, heads)))
        for spec, lead in expected:
            shape = tuple(arrays[spec["name"]].shape)
            if shape[:len(lead)] != lead:
                raise ValueError(f"{spec['name']}: leading dims {list(shape[:len(lead)])}, "
                                 f"expected {list(lead)}")

    def __call__(self, stream=None, **arrays):
        """Runs the kernel on `arrays` (every operand and result by name). A CUDA library
        launches on `stream` when given (a CUstream as an int, e.g.
        ``torch.cuda.current_stream().cuda_stream``) and returns without waiting for it;
        otherwise on a stream of its own, synchronized before it returns."""
        for spec in self.operands:
            if spec["name"] not in arrays and "value" in spec:
                arrays[spec["name"]] = self.constant(spec)
        missing = [n for n in self.names if n not in arrays]
        if missing:
            raise ValueError(f"missing arrays: {', '.join(missing)}")
        descriptors = []
        for spec in self.operands + self.results:
            address, shape, itemsize, dtype = _buffer(arrays[spec["name"]], self.on_gpu)
            if dtype != spec["dtype"] or len(shape) != len(spec["shape"]) or any(
                    s >= 0 and s != d for s, d in zip(spec["shape"], shape)):
                raise ValueError(f"{spec['name']}: expected {spec['dtype']} "
                                 f"{spec['shape']}, got {dtype} {list(shape)}")
            descriptor = _descriptor_type(len(shape))()
            descriptor.allocated = descriptor.aligned = address
            descriptor.offset = 0
            stride = 1
            for d in reversed(range(len(shape))):
                descriptor.sizes[d] = shape[d]
                descriptor.strides[d] = stride
                stride *= shape[d]
            descriptors.append(descriptor)
        self._check_leading_dims(arrays)
        args = [ctypes.byref(d) for d in descriptors]
        args += [ctypes.c_int64(0), ctypes.c_int64(self.work_items(arrays))]
        if self.load_error:
            raise RuntimeError(self.load_error)
        if stream is not None and not self.on_gpu:
            raise ValueError("a stream is for CUDA libraries only")
        if stream is not None:
            self.library.linrecGpuUseStream(ctypes.c_void_p(stream))
        try:
            self.entry(*args)
        finally:
            if stream is not None:
                self.library.linrecGpuUseStream(None)
        error = self.take_error()
        if error:
            raise RuntimeError(error)
