// hipfrac_torch: the only C++ in hipfrac. A context-aware N-API addon over LibTorch.
// One generic, schema-driven boxed call into ATen's dispatcher serves every operator (autograd
// included); the hand-written functions below cover only what the dispatcher cannot.
//
// Builds against LibTorch 1.13 (Debian) and 2.x (official CUDA builds): only stable APIs are used.

// Finalizers must run inside V8's GC, not from a queue drained by SetImmediate: a synchronous training
// loop never turns the event loop, so Node 20 otherwise keeps every disposed tensor's External and
// N-API reference alive (measured: +5 KB per iteration of a small CNN, and GC-only loops at 800 MB).
// Node calls finalizers directly from the GC only for modules built as NAPI_EXPERIMENTAL, and then
// they must not call N-API (finalizeBox does not).
#undef NAPI_VERSION
#define NAPI_EXPERIMENTAL
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/jit_type.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/api/include/torch/version.h>

#include <malloc.h>

#include "cpu_allocator.h"
#include "tensor_handles.h"

#include <atomic>
#include <cmath>
#include <sstream>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

// ---------------------------------------------------------------------------------------------
// Tensor handles: a JS External owning a heap box. dispose() empties the box at once; the
// finalizer (GC safety net) deletes it. External memory is reported to V8 when a tensor is
// wrapped and un-reported later for finalized tensors, never inside a GC finalizer (that aborts V8).
// Inside a tidy() scope reporting is deferred (setDeferReport): the scope frees those tensors, and
// reporting them made V8 start a full mark-compact for every 64 MB of activations (13 per resnet50
// training step), whose marking threads then competed with LibTorch's. Tensors that leave the
// outermost scope are reported then (reportExternal).

struct TensorBox {
  at::Tensor tensor;
  int64_t reportedBytes = 0;
};

std::atomic<int64_t> gLiveTensors{0};
// Bytes freed by finalizers on this thread's environment, waiting to be reported to V8.
thread_local int64_t tPendingFreedBytes = 0;
thread_local int64_t tReportedBytes = 0;
thread_local bool tDeferReport = false;

int64_t hostBytes(const at::Tensor& t) {
  if (!t.defined() || !t.device().is_cpu() || t.is_view()) return 0;
  return static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
}

void flushPendingMemory(Napi::Env env) {
  if (tPendingFreedBytes != 0) {
    int64_t freed = tPendingFreedBytes;
    tPendingFreedBytes = 0;
    tReportedBytes -= freed;
    Napi::MemoryManagement::AdjustExternalMemory(env, -freed);
  }
}

void finalizeBox(Napi::BasicEnv /*env*/, TensorBox* box) {
  // Runs inside GC (a basic finalizer): no N-API calls here.
  if (box->tensor.defined()) gLiveTensors.fetch_sub(1, std::memory_order_relaxed);
  tPendingFreedBytes += box->reportedBytes;
  delete box;
}

// Reports a box's host bytes to V8 once (not again if already reported).
void reportBox(Napi::Env env, TensorBox* box) {
  if (!box->tensor.defined() || box->reportedBytes != 0) return;
  box->reportedBytes = hostBytes(box->tensor);
  if (box->reportedBytes > 0) {
    tReportedBytes += box->reportedBytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, box->reportedBytes);
  }
}

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) return env.Null();
  flushPendingMemory(env);
  auto* box = new TensorBox{std::move(tensor), 0};
  if (!tDeferReport) reportBox(env, box);
  gLiveTensors.fetch_add(1, std::memory_order_relaxed);
  return Napi::External<TensorBox>::New(env, box, finalizeBox);
}

// Errors carry a stable `code` (HF_TORCH_*) that src/torch keeps when it wraps them in a HipfracError,
// so callers can tell a disposed tensor from a bad argument without parsing messages.
[[noreturn]] void throwCoded(Napi::Env env, const char* code, const std::string& message, bool typeError = false) {
  Napi::Error e = typeError ? Napi::TypeError::New(env, message) : Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

// Accepts an External handle, or any object carrying one under `_h` (the TypeScript Tensor).
TensorBox* boxOf(const Napi::Value& value) {
  Napi::Value v = value;
  if (v.IsObject() && !v.IsExternal()) v = v.As<Napi::Object>().Get("_h");
  if (!v.IsExternal()) return nullptr;
  return v.As<Napi::External<TensorBox>>().Data();
}

const at::Tensor& tensorOf(Napi::Env env, const Napi::Value& value, const char* what) {
  TensorBox* box = boxOf(value);
  if (box == nullptr) {
    throwCoded(env, "HF_TORCH_BAD_ARGUMENT", std::string(what) + ": expected a Tensor", true);
  }
  if (!box->tensor.defined()) {
    throwCoded(env, "HF_TORCH_DISPOSED", std::string(what) + ": tensor used after dispose()");
  }
  return box->tensor;
}

// ---------------------------------------------------------------------------------------------
// Names shared with TypeScript for dtypes, layouts and memory formats.

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
const DtypeName kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf},
    {"bfloat16", at::kBFloat16}, {"int64", at::kLong}, {"int32", at::kInt},
    {"int16", at::kShort}, {"int8", at::kChar}, {"uint8", at::kByte}, {"bool", at::kBool},
};

bool dtypeFromName(const std::string& name, at::ScalarType* out) {
  for (const auto& d : kDtypes) {
    if (name == d.name) {
      *out = d.type;
      return true;
    }
  }
  return false;
}

const char* dtypeName(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type) return d.name;
  }
  return c10::toString(type);
}

// String → integer code for the enum-like arguments the JIT schema encodes as int.
bool enumFromName(const std::string& name, int64_t* out) {
  at::ScalarType st;
  if (dtypeFromName(name, &st)) {
    *out = static_cast<int64_t>(st);
    return true;
  }
  if (name == "contiguous_format") { *out = static_cast<int64_t>(at::MemoryFormat::Contiguous); return true; }
  if (name == "channels_last") { *out = static_cast<int64_t>(at::MemoryFormat::ChannelsLast); return true; }
  if (name == "preserve_format") { *out = static_cast<int64_t>(at::MemoryFormat::Preserve); return true; }
  if (name == "strided") { *out = static_cast<int64_t>(at::kStrided); return true; }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Operator lookup: resolved once, cached process-wide (workers share it; guarded by a mutex).

struct OpEntry {
  c10::OperatorHandle handle;
  std::string fullName;
};

std::mutex gOpMutex;
std::unordered_map<std::string, OpEntry*> gOps;

Napi::Value Op(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "op(name, overload?): name must be a string");
  std::string name = info[0].As<Napi::String>();
  std::string overload = info.Length() > 1 && info[1].IsString() ? std::string(info[1].As<Napi::String>()) : "";
  std::string key = name + "." + overload;
  std::lock_guard<std::mutex> lock(gOpMutex);
  auto it = gOps.find(key);
  if (it == gOps.end()) {
    auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
    if (!handle.has_value()) {
      throwCoded(env, "HF_TORCH_UNKNOWN_OP", "unknown operator '" + name + (overload.empty() ? "" : "." + overload) +
                                                 "': no such schema in this LibTorch (" + TORCH_VERSION + ")");
    }
    auto* entry = new OpEntry{*handle, key};  // lives for the process
    it = gOps.emplace(key, entry).first;
  }
  return Napi::External<OpEntry>::New(env, it->second);
}

Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  auto* entry = info[0].As<Napi::External<OpEntry>>().Data();
  std::ostringstream os;
  os << entry->handle.schema();
  return Napi::String::New(info.Env(), os.str());
}

// ---------------------------------------------------------------------------------------------
// JS → IValue, driven by the schema's declared type.

[[noreturn]] void argError(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const std::string& expected,
                           const Napi::Value& got) {
  std::string kind = got.IsNumber() ? "number" : got.IsString() ? "string" : got.IsBoolean() ? "boolean"
                     : got.IsArray() ? "array" : got.IsNull() ? "null" : got.IsUndefined() ? "undefined" : "object";
  throwCoded(env, "HF_TORCH_BAD_ARGUMENT", op.fullName + ": argument '" + arg.name() + "' expected " + expected + ", got " + kind +
                                              " (schema: " + c10::toString(arg.type()) + ")", true);
}

int64_t toInt(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const Napi::Value& v) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int64_t>(d))) argError(env, op, arg, "an integer", v);
    return static_cast<int64_t>(d);
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (v.IsString()) {
    int64_t code;
    if (enumFromName(v.As<Napi::String>(), &code)) return code;
  }
  argError(env, op, arg, "an integer", v);
}

c10::Scalar toScalar(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const Napi::Value& v) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // In JS 2.0 === 2: integral values become int Scalars unless wrapped as {float: x}.
    if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d)) && std::fabs(d) < 9.0e15) {
      return c10::Scalar(static_cast<int64_t>(d));
    }
    return c10::Scalar(d);
  }
  if (v.IsBoolean()) return c10::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsObject() && !v.IsArray()) {
    Napi::Value f = v.As<Napi::Object>().Get("float");
    if (f.IsNumber()) return c10::Scalar(f.As<Napi::Number>().DoubleValue());
  }
  argError(env, op, arg, "a number", v);
}

c10::IValue toIValue(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const c10::TypePtr& type,
                     const Napi::Value& v);

c10::IValue listToIValue(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const c10::TypePtr& elem,
                         const Napi::Value& v) {
  // A single number for an int[N] argument broadcasts, as Python's kernel_size=3 does.
  if (!v.IsArray()) {
    if (elem->kind() == c10::TypeKind::IntType || elem->kind() == c10::TypeKind::SymIntType) {
      int64_t n = arg.N().has_value() ? static_cast<int64_t>(*arg.N()) : 1;
      int64_t x = toInt(env, op, arg, v);
      return c10::IValue(std::vector<int64_t>(static_cast<size_t>(n), x));
    }
    argError(env, op, arg, "an array", v);
  }
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  switch (elem->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      std::vector<int64_t> out(n);
      for (uint32_t i = 0; i < n; i++) out[i] = toInt(env, op, arg, arr.Get(i));
      return c10::IValue(out);
    }
    case c10::TypeKind::FloatType: {
      std::vector<double> out(n);
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value x = arr.Get(i);
        if (!x.IsNumber()) argError(env, op, arg, "an array of numbers", v);
        out[i] = x.As<Napi::Number>().DoubleValue();
      }
      return c10::IValue(out);
    }
    case c10::TypeKind::NumberType: {
      // Scalar[] (the _foreach_ ops' per-tensor step sizes).
      c10::List<c10::Scalar> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) out.push_back(toScalar(env, op, arg, arr.Get(i)));
      return c10::IValue(out);
    }
    case c10::TypeKind::BoolType: {
      c10::List<bool> out;
      for (uint32_t i = 0; i < n; i++) out.push_back(arr.Get(i).ToBoolean().Value());
      return c10::IValue(out);
    }
    case c10::TypeKind::TensorType: {
      c10::List<at::Tensor> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) out.push_back(tensorOf(env, arr.Get(i), op.fullName.c_str()));
      return c10::IValue(out);
    }
    case c10::TypeKind::OptionalType: {
      auto inner = elem->castRaw<c10::OptionalType>()->getElementType();
      if (inner->kind() == c10::TypeKind::TensorType) {
        c10::List<c10::optional<at::Tensor>> out;
        for (uint32_t i = 0; i < n; i++) {
          Napi::Value x = arr.Get(i);
          if (x.IsNull() || x.IsUndefined()) out.push_back(c10::nullopt);
          else out.push_back(tensorOf(env, x, op.fullName.c_str()));
        }
        return c10::IValue(out);
      }
      break;
    }
    default:
      break;
  }
  argError(env, op, arg, "a supported list", v);
}

c10::IValue toIValue(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const c10::TypePtr& type,
                     const Napi::Value& v) {
  switch (type->kind()) {
    case c10::TypeKind::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return toIValue(env, op, arg, type->castRaw<c10::OptionalType>()->getElementType(), v);
    case c10::TypeKind::TensorType: {
      TensorBox* box = boxOf(v);
      if (box == nullptr) argError(env, op, arg, "a Tensor", v);
      if (!box->tensor.defined()) {
        throwCoded(env, "HF_TORCH_DISPOSED", op.fullName + ": argument '" + arg.name() + "' is a tensor used after dispose()");
      }
      return c10::IValue(box->tensor);
    }
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
    case c10::TypeKind::ScalarTypeType:
    case c10::TypeKind::LayoutType:
    case c10::TypeKind::MemoryFormatType:
      return c10::IValue(toInt(env, op, arg, v));
    case c10::TypeKind::FloatType:
      if (!v.IsNumber()) argError(env, op, arg, "a number", v);
      return c10::IValue(v.As<Napi::Number>().DoubleValue());
    case c10::TypeKind::BoolType:
      if (!v.IsBoolean()) argError(env, op, arg, "a boolean", v);
      return c10::IValue(v.As<Napi::Boolean>().Value());
    case c10::TypeKind::NumberType:
      return c10::IValue(toScalar(env, op, arg, v));
    case c10::TypeKind::StringType:
      if (!v.IsString()) argError(env, op, arg, "a string", v);
      return c10::IValue(std::string(v.As<Napi::String>()));
    case c10::TypeKind::DeviceObjType:
      if (!v.IsString()) argError(env, op, arg, "a device string such as 'cpu' or 'cuda:0'", v);
      return c10::IValue(c10::Device(std::string(v.As<Napi::String>())));
    case c10::TypeKind::ListType:
      return listToIValue(env, op, arg, type->castRaw<c10::ListType>()->getElementType(), v);
    case c10::TypeKind::GeneratorType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      argError(env, op, arg, "null (custom generators are not supported)", v);
    default:
      break;
  }
  argError(env, op, arg, "a value of a supported type", v);
}

// ---------------------------------------------------------------------------------------------
// IValue → JS.

Napi::Value fromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return wrapTensor(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    Napi::Array arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) arr.Set(static_cast<uint32_t>(i), wrapTensor(env, list.get(i)));
    return arr;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    Napi::Array arr = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); i++) arr.Set(static_cast<uint32_t>(i), fromIValue(env, elems[i]));
    return arr;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    Napi::Array arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) arr.Set(static_cast<uint32_t>(i), fromIValue(env, list[i]));
    return arr;
  }
  if (v.isScalar()) return Napi::Number::New(env, v.toScalar().toDouble());
  throw Napi::Error::New(env, std::string("cannot convert a returned ") + v.tagKind() + " to JavaScript");
}

// call(op, args[], kwargs|null) → Tensor handle | value | array (several returns)
Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsExternal() || !info[1].IsArray()) {
    throw Napi::TypeError::New(env, "call(op, args, kwargs?): op must come from op() and args must be an array");
  }
  const OpEntry& op = *info[0].As<Napi::External<OpEntry>>().Data();
  Napi::Array args = info[1].As<Napi::Array>();
  Napi::Object kwargs = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object();
  const auto& schema = op.handle.schema();
  const auto& params = schema.arguments();
  uint32_t nargs = args.Length();
  if (nargs > params.size()) {
    throwCoded(env, "HF_TORCH_BAD_ARGUMENT", op.fullName + ": " + std::to_string(nargs) + " arguments given, the schema takes " +
                                                std::to_string(params.size()) + " (schema: " + c10::toString(schema) + ")", true);
  }
  torch::jit::Stack stack;
  stack.reserve(params.size());
  for (size_t i = 0; i < params.size(); i++) {
    const auto& arg = params[i];
    Napi::Value v = i < nargs ? args.Get(static_cast<uint32_t>(i)) : env.Undefined();
    if (v.IsUndefined() && !kwargs.IsEmpty() && kwargs.Has(arg.name())) v = kwargs.Get(arg.name());
    if (v.IsUndefined()) {
      if (arg.default_value().has_value()) {
        stack.push_back(*arg.default_value());
        continue;
      }
      if (arg.type()->kind() == c10::TypeKind::OptionalType) {
        stack.emplace_back();
        continue;
      }
      throwCoded(env, "HF_TORCH_BAD_ARGUMENT", op.fullName + ": missing required argument '" + arg.name() + "' (schema: " +
                                                  c10::toString(schema) + ")", true);
    }
    stack.push_back(toIValue(env, op, arg, arg.type(), v));
  }
  try {
    op.handle.callBoxed(&stack);
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, op.fullName + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, op.fullName + ": " + e.what());
  }
  if (stack.size() == 1) return fromIValue(env, stack[0]);
  Napi::Array out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); i++) out.Set(static_cast<uint32_t>(i), fromIValue(env, stack[i]));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Data in and out (always copies: a from_blob deleter could run inside GC or on another thread).

Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // fromBuffer(typedArray, shape[], dtype)
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsArray() || !info[2].IsString()) {
    throw Napi::TypeError::New(env, "fromBuffer(typedArray, shape, dtype)");
  }
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  Napi::Array shapeArr = info[1].As<Napi::Array>();
  at::ScalarType dtype;
  if (!dtypeFromName(info[2].As<Napi::String>(), &dtype)) throw Napi::TypeError::New(env, "fromBuffer: unknown dtype");
  std::vector<int64_t> shape(shapeArr.Length());
  int64_t numel = 1;
  for (uint32_t i = 0; i < shapeArr.Length(); i++) {
    shape[i] = shapeArr.Get(i).As<Napi::Number>().Int64Value();
    if (shape[i] < 0) throw Napi::RangeError::New(env, "fromBuffer: negative dimension in shape");
    numel *= shape[i];
  }
  size_t bytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (bytes != ta.ByteLength()) {
    throw Napi::RangeError::New(env, "fromBuffer: the data holds " + std::to_string(ta.ByteLength()) + " bytes but shape and dtype need " +
                                         std::to_string(bytes));
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (bytes > 0) {
    const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    std::memcpy(t.data_ptr(), src, bytes);
  }
  return wrapTensor(env, t);
}

// toBuffer(t) → ArrayBuffer with the contiguous CPU bytes (in the tensor's own dtype).
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = tensorOf(env, info[0], "toBuffer");
  try {
    at::NoGradGuard noGrad;
    t = t.detach().to(at::kCPU).contiguous();
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, std::string("toBuffer: ") + e.what_without_backtrace());
  }
  size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buf.Data(), t.data_ptr(), bytes);
  return buf;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensorOf(env, info[0], "info");
  Napi::Object o = Napi::Object::New(env);
  Napi::Array shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); i++) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  o.Set("shape", shape);
  o.Set("dtype", dtypeName(t.scalar_type()));
  o.Set("device", t.device().str());
  return o;
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensorOf(env, info[0], "shape");
  Napi::Array shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); i++) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  return shape;
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtypeName(tensorOf(info.Env(), info[0], "dtype").scalar_type()));
}

Napi::Value DeviceOf(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tensorOf(info.Env(), info[0], "device").device().str());
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensorOf(env, info[0], "item");
  if (t.numel() != 1) {
    throwCoded(env, "HF_TORCH_NOT_SCALAR", "item(): the tensor has " + std::to_string(t.numel()) + " elements; item() needs exactly one");
  }
  return Napi::Number::New(env, t.item().toDouble());
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorBox* box = boxOf(info[0]);
  if (box == nullptr) throw Napi::TypeError::New(env, "dispose: expected a Tensor");
  if (box->tensor.defined()) {
    box->tensor = at::Tensor();
    gLiveTensors.fetch_sub(1, std::memory_order_relaxed);
    if (box->reportedBytes > 0) {
      tReportedBytes -= box->reportedBytes;
      Napi::MemoryManagement::AdjustExternalMemory(env, -box->reportedBytes);
      box->reportedBytes = 0;
    }
  }
  return env.Undefined();
}

Napi::Value SetDeferReport(const Napi::CallbackInfo& info) {
  tDeferReport = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

// Reports a tensor whose report was deferred, once it outlives the scopes that would have freed it.
Napi::Value ReportExternal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorBox* box = boxOf(info[0]);
  if (box == nullptr) throw Napi::TypeError::New(env, "reportExternal: expected a Tensor");
  reportBox(env, box);
  return env.Undefined();
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  TensorBox* box = boxOf(info[0]);
  return Napi::Boolean::New(info.Env(), box == nullptr || !box->tensor.defined());
}

// Same TensorImpl (in-place ops return an alias of their input).
Napi::Value SameTensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& a = tensorOf(env, info[0], "sameTensor");
  const at::Tensor& b = tensorOf(env, info[1], "sameTensor");
  return Napi::Boolean::New(env, a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl());
}

// ---------------------------------------------------------------------------------------------
// Autograd: what the dispatcher does not expose.

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensorOf(info.Env(), info[0], "requiresGrad").requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = tensorOf(env, info[0], "requiresGrad_");
  try {
    t.set_requires_grad(info[1].ToBoolean().Value());
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, std::string("requiresGrad_: ") + e.what_without_backtrace());
  }
  return env.Undefined();
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensorOf(info.Env(), info[0], "isLeaf").is_leaf());
}

Napi::Value GradFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensorOf(env, info[0], "gradFn");
  auto fn = t.grad_fn();
  if (!fn) return env.Null();
  return Napi::String::New(env, fn->name());
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensorOf(env, info[0], "grad");
  return wrapTensor(env, t.grad());
}

Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = tensorOf(env, info[0], "setGrad");
  if (info[1].IsNull() || info[1].IsUndefined()) {
    t.mutable_grad() = at::Tensor();
  } else {
    t.mutable_grad() = tensorOf(env, info[1], "setGrad");
  }
  return env.Undefined();
}

std::vector<at::Tensor> tensorList(Napi::Env env, const Napi::Value& v, const char* what, bool allowNull) {
  std::vector<at::Tensor> out;
  if (v.IsNull() || v.IsUndefined()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of tensors");
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value x = arr.Get(i);
    if (allowNull && (x.IsNull() || x.IsUndefined())) out.emplace_back();
    else out.push_back(tensorOf(env, x, what));
  }
  return out;
}

// backward(tensors[], gradTensors[]|null, retainGraph, createGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = tensorList(env, info[0], "backward", false);
  auto grads = tensorList(env, info[1], "backward", true);
  bool retain = info.Length() > 2 && info[2].ToBoolean().Value();
  bool create = info.Length() > 3 && info[3].ToBoolean().Value();
  try {
    torch::autograd::backward(outputs, grads, c10::optional<bool>(retain), create);
  } catch (const c10::Error& e) {
    throwCoded(env, "HF_TORCH_AUTOGRAD", std::string("backward: ") + e.what_without_backtrace());
  }
  return env.Undefined();
}

// grad(outputs[], inputs[], gradOutputs[]|null, retainGraph, createGraph, allowUnused) → (Tensor|null)[]
Napi::Value AutogradGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = tensorList(env, info[0], "grad", false);
  auto inputs = tensorList(env, info[1], "grad", false);
  auto gradOutputs = tensorList(env, info[2], "grad", true);
  bool retain = info.Length() > 3 && info[3].ToBoolean().Value();
  bool create = info.Length() > 4 && info[4].ToBoolean().Value();
  bool allowUnused = info.Length() > 5 && info[5].ToBoolean().Value();
  torch::autograd::variable_list result;
  try {
    result = torch::autograd::grad(outputs, inputs, gradOutputs, c10::optional<bool>(retain), create, allowUnused);
  } catch (const c10::Error& e) {
    throwCoded(env, "HF_TORCH_AUTOGRAD", std::string("grad: ") + e.what_without_backtrace());
  }
  Napi::Array arr = Napi::Array::New(env, result.size());
  for (size_t i = 0; i < result.size(); i++) arr.Set(static_cast<uint32_t>(i), wrapTensor(env, result[i]));
  return arr;
}

// Grad mode is thread-local in LibTorch: each worker thread starts with it enabled.
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return Napi::Boolean::New(info.Env(), previous);
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

// Inference mode is an RAII guard; JS scopes are synchronous and nest, so a heap guard released
// in LIFO order by exitInferenceMode keeps the same semantics.
Napi::Value EnterInferenceMode(const Napi::CallbackInfo& info) {
  auto* guard = new c10::InferenceMode(true);
  return Napi::External<c10::InferenceMode>::New(info.Env(), guard);
}

Napi::Value ExitInferenceMode(const Napi::CallbackInfo& info) {
  delete info[0].As<Napi::External<c10::InferenceMode>>().Data();
  return info.Env().Undefined();
}

Napi::Value IsInferenceMode(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::InferenceMode::is_enabled());
}

// Autocast (torch.autocast): inside the scope, ATen's autocast kernels run the ops on its lower-precision list
// (convolutions, linear layers, matrix products) in bfloat16 and keep the others in float32. The state is
// thread-local, like the guard above; enter returns the previous state, which exit restores in LIFO order, and
// the cache of weights already cast is cleared when the outermost scope closes (the optimiser changes them next).
// LibTorch 2.4 replaced the per-device setters with ones taking the device type; both are stable in their line.
struct AutocastScope {
  bool cuda;
  bool previousEnabled;
  at::ScalarType previousDtype;
};

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocastEnabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void setAutocastEnabled(bool cuda, bool on) { at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on); }
at::ScalarType autocastDtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
void setAutocastDtype(bool cuda, at::ScalarType t) { at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, t); }
#else
bool autocastEnabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void setAutocastEnabled(bool cuda, bool on) { cuda ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on); }
at::ScalarType autocastDtype(bool cuda) { return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype(); }
void setAutocastDtype(bool cuda, at::ScalarType t) { cuda ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t); }
#endif

// enterAutocast(deviceType: 'cpu' | 'cuda') → guard; bfloat16 only (float16 would need a gradient scaler).
Napi::Value EnterAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string device = info[0].As<Napi::String>().Utf8Value();
  if (device != "cpu" && device != "cuda") throw Napi::Error::New(env, "enterAutocast: device type must be 'cpu' or 'cuda', got '" + device + "'");
  bool cuda = device == "cuda";
  auto* scope = new AutocastScope{cuda, autocastEnabled(cuda), autocastDtype(cuda)};
  setAutocastEnabled(cuda, true);
  setAutocastDtype(cuda, at::kBFloat16);
  at::autocast::increment_nesting();
  return Napi::External<AutocastScope>::New(env, scope);
}

Napi::Value ExitAutocast(const Napi::CallbackInfo& info) {
  std::unique_ptr<AutocastScope> scope(info[0].As<Napi::External<AutocastScope>>().Data());
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  setAutocastEnabled(scope->cuda, scope->previousEnabled);
  setAutocastDtype(scope->cuda, scope->previousDtype);
  return info.Env().Undefined();
}

Napi::Value IsAutocast(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), autocastEnabled(info[0].As<Napi::String>().Utf8Value() == "cuda"));
}

// ---------------------------------------------------------------------------------------------
// Runtime: seeds, threads, devices, build facts, memory counters.

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  uint64_t seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  const auto& hooks = at::detail::getCUDAHooks();
  if (hooks.hasCUDA()) {
    for (int i = 0; i < hooks.getNumGPUs(); i++) {
      // Context::defaultGenerator(Device) exists in 1.13 and 2.x; the hook's own getter was renamed in 2.x.
      auto gen = at::globalContext().defaultGenerator(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed);
    }
  }
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setNumThreads: need at least 1 thread");
  at::set_num_threads(n);
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  const auto& hooks = at::detail::getCUDAHooks();
  return Napi::Boolean::New(info.Env(), hooks.hasCUDA() && hooks.getNumGPUs() > 0);
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  const auto& hooks = at::detail::getCUDAHooks();
  return Napi::Number::New(info.Env(), hooks.hasCUDA() ? hooks.getNumGPUs() : 0);
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  const auto& hooks = at::detail::getCUDAHooks();
  if (hooks.hasCUDA()) {
    int64_t device = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : hooks.current_device();
    hooks.deviceSynchronize(static_cast<c10::DeviceIndex>(device));
  }
  return info.Env().Undefined();
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("config", at::show_config());
  o.Set("parallel", at::get_parallel_info());
  o.Set("cudaCompiled", at::detail::getCUDAHooks().hasCUDART());
  return o;
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  flushPendingMemory(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveTensors", Napi::Number::New(env, static_cast<double>(gLiveTensors.load())));
  o.Set("reportedBytes", Napi::Number::New(env, static_cast<double>(tReportedBytes)));
  struct mallinfo2 mi = mallinfo2();
  o.Set("mallocInUseBytes", Napi::Number::New(env, static_cast<double>(mi.uordblks + mi.hblkhd)));
  const hipfrac::CpuCacheStats cache = hipfrac::cpuCacheStats();
  Napi::Object c = Napi::Object::New(env);
  c.Set("allocatedBytes", Napi::Number::New(env, static_cast<double>(cache.allocatedBytes)));
  c.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(cache.cachedBytes)));
  c.Set("limitBytes", Napi::Number::New(env, static_cast<double>(cache.limitBytes)));
  c.Set("hits", Napi::Number::New(env, static_cast<double>(cache.hits)));
  c.Set("misses", Napi::Number::New(env, static_cast<double>(cache.misses)));
  o.Set("cpuCache", c);
  return o;
}

Napi::Value EmptyCpuCache(const Napi::CallbackInfo& info) {
  hipfrac::emptyCpuCache();
  return info.Env().Undefined();
}

// The VM's page faults are slow (~10 µs): keep freed blocks in the heap instead of returning them
// with munmap/trim after every large tensor, as PyTorch's CPU caching would.
std::once_flag gMallocTuned;
void tuneMalloc() {
  std::call_once(gMallocTuned, [] {
    if (const char* off = std::getenv("HIPFRAC_NO_MALLOPT"); off != nullptr && std::strcmp(off, "1") == 0) return;
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tuneMalloc();
  hipfrac::installCpuCachingAllocator();
  exports.Set("op", Napi::Function::New(env, Op));
  exports.Set("opSchema", Napi::Function::New(env, OpSchema));
  exports.Set("call", Napi::Function::New(env, Call));
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer));
  exports.Set("toBuffer", Napi::Function::New(env, ToBuffer));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("shape", Napi::Function::New(env, Shape));
  exports.Set("dtype", Napi::Function::New(env, Dtype));
  exports.Set("device", Napi::Function::New(env, DeviceOf));
  exports.Set("item", Napi::Function::New(env, Item));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("isDisposed", Napi::Function::New(env, IsDisposed));
  exports.Set("setDeferReport", Napi::Function::New(env, SetDeferReport));
  exports.Set("reportExternal", Napi::Function::New(env, ReportExternal));
  exports.Set("sameTensor", Napi::Function::New(env, SameTensor));
  exports.Set("requiresGrad", Napi::Function::New(env, RequiresGrad));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad));
  exports.Set("isLeaf", Napi::Function::New(env, IsLeaf));
  exports.Set("gradFn", Napi::Function::New(env, GradFn));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("setGrad", Napi::Function::New(env, SetGrad));
  exports.Set("backward", Napi::Function::New(env, Backward));
  exports.Set("autogradGrad", Napi::Function::New(env, AutogradGrad));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
  exports.Set("enterInferenceMode", Napi::Function::New(env, EnterInferenceMode));
  exports.Set("exitInferenceMode", Napi::Function::New(env, ExitInferenceMode));
  exports.Set("isInferenceMode", Napi::Function::New(env, IsInferenceMode));
  exports.Set("enterAutocast", Napi::Function::New(env, EnterAutocast));
  exports.Set("exitAutocast", Napi::Function::New(env, ExitAutocast));
  exports.Set("isAutocast", Napi::Function::New(env, IsAutocast));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("cudaAvailable", Napi::Function::New(env, CudaAvailable));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats));
  exports.Set("emptyCpuCache", Napi::Function::New(env, EmptyCpuCache));
  hipfrac::registerDistributed(env, exports);
  return exports;
}

}  // namespace

// The handle helpers shared with distributed.cc (tensor_handles.h).
namespace hipfrac {
const at::Tensor& tensorArg(Napi::Env env, const Napi::Value& value, const char* what) { return tensorOf(env, value, what); }
Napi::Value wrapTensorValue(Napi::Env env, at::Tensor tensor) { return wrapTensor(env, std::move(tensor)); }
void throwCodedError(Napi::Env env, const char* code, const std::string& message, bool typeError) {
  throwCoded(env, code, message, typeError);
}
}  // namespace hipfrac

NODE_API_MODULE(hipfrac_torch, Init)
