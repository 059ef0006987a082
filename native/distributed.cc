// Data-parallel training over LibTorch's c10d: a TCPStore rendezvous, a Gloo (CPU) or NCCL (CUDA)
// process group, flattened-bucket collectives, and a gradient reducer whose autograd hooks start each
// bucket's all-reduce while backward is still running (as DistributedDataParallel's Reducer does).
//
// Every blocking wait (rendezvous, Work::wait) runs on a libuv pool thread and settles a Promise, so
// the JS thread never blocks on a peer. Builds without c10d/Gloo headers (e.g. a PyTorch wheel's
// include tree without gloo/): then every dist* function reports "distributed unavailable".
// Same N-API flavour as addon.cc (finalizers called from GC).
#undef NAPI_VERSION
#define NAPI_EXPERIMENTAL
#include "tensor_handles.h"

#include <torch/csrc/api/include/torch/version.h>

// HIPFRAC_NO_GLOO forces the fallback (to check that it compiles where the headers exist).
#if !defined(HIPFRAC_NO_GLOO) && __has_include(<torch/csrc/distributed/c10d/TCPStore.hpp>) && __has_include(<gloo/config.h>)
#define HIPFRAC_HAS_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#else
#define HIPFRAC_HAS_GLOO 0
#endif

// NCCL: only in a CUDA LibTorch whose include path also holds nccl.h (binding.gyp adds NCCL_HOME).
#if HIPFRAC_HAS_GLOO && defined(HIPFRAC_WITH_CUDA) && __has_include(<nccl.h>)
#define HIPFRAC_HAS_NCCL 1
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#else
#define HIPFRAC_HAS_NCCL 0
#endif

#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using hipfrac::tensorArg;
using hipfrac::throwCodedError;
using hipfrac::wrapTensorValue;

// A Promise settled by work done on a libuv pool thread. `work` must not touch N-API; `resolve`
// runs back on the JS thread. A failure rejects with an Error carrying `code`.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* code, std::function<void()> work,
                std::function<Napi::Value(Napi::Env)> resolve = nullptr)
      : Napi::AsyncWorker(env, "hipfrac:dist"), deferred_(Napi::Promise::Deferred::New(env)), code_(code),
        work_(std::move(work)), resolve_(std::move(resolve)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  static Napi::Promise start(Napi::Env env, const char* code, std::function<void()> work,
                             std::function<Napi::Value(Napi::Env)> resolve = nullptr) {
    auto* worker = new PromiseWorker(env, code, std::move(work), std::move(resolve));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const c10::Error& e) {
      SetError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override { deferred_.Resolve(resolve_ ? resolve_(Env()) : Env().Undefined()); }
  void OnError(const Napi::Error& e) override {
    Napi::Object o = e.Value();
    o.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  const char* code_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> resolve_;
};

Napi::Value DistAvailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("gloo", Napi::Boolean::New(env, HIPFRAC_HAS_GLOO != 0));
  o.Set("nccl", Napi::Boolean::New(env, HIPFRAC_HAS_NCCL != 0));
  return o;
}

#if HIPFRAC_HAS_GLOO

// LibTorch 2.x split backends out of ProcessGroup; both expose the collectives used here.
#if TORCH_VERSION_MAJOR >= 2
using Comm = c10d::Backend;
#else
using Comm = c10d::ProcessGroup;
#endif

struct Group;
// Live groups by id, for autograd nodes (SyncBatchNorm's backward) that must find their group again.
std::mutex gGroupsMutex;
std::unordered_map<int64_t, std::weak_ptr<Group>> gGroups;
int64_t gNextGroupId = 1;

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Comm> comm;
  int rank = 0;
  int worldSize = 1;
  std::string backend;
  std::chrono::milliseconds timeout{0};
  int64_t id = 0;
  ~Group() {
    std::lock_guard<std::mutex> lock(gGroupsMutex);
    gGroups.erase(id);
  }
};

using GroupPtr = std::shared_ptr<Group>;

void registerGroup(const GroupPtr& g) {
  std::lock_guard<std::mutex> lock(gGroupsMutex);
  g->id = gNextGroupId++;
  gGroups[g->id] = g;
}

GroupPtr findGroup(int64_t id) {
  std::lock_guard<std::mutex> lock(gGroupsMutex);
  auto it = gGroups.find(id);
  return it == gGroups.end() ? nullptr : it->second.lock();
}

GroupPtr& groupOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal()) throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "expected a process group handle", true);
  auto* g = v.As<Napi::External<GroupPtr>>().Data();
  if (g == nullptr || !*g) throwCodedError(env, "HF_DIST_CLOSED", "process group used after close()");
  return *g;
}

std::vector<at::Tensor> tensorsArg(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throwCodedError(env, "HF_DIST_BAD_ARGUMENT", std::string(what) + ": expected an array of tensors", true);
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(tensorArg(env, arr.Get(i), what));
  if (out.empty()) throwCodedError(env, "HF_DIST_BAD_ARGUMENT", std::string(what) + ": no tensors given", true);
  return out;
}

std::string getString(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? std::string(v.As<Napi::String>()) : fallback;
}

int64_t getInt(const Napi::Object& o, const char* key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
}

std::vector<uint8_t> bytesOf(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::string stringOf(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

// distCreateGroup({masterAddr, masterPort, worldSize, rank, timeoutMs, backend, hostname, configHash,
// threads}) → Promise<group>. Rank 0 hosts the TCPStore. Before the process group forms, every rank
// publishes "worldSize configHash" in the store and compares it with rank 0's (rank 0 with every
// rank's), so a wrong world size or a different configuration is refused before any collective.
Napi::Value DistCreateGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "distCreateGroup(options)", true);
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string masterAddr = getString(o, "masterAddr", "127.0.0.1");
  const int64_t port = getInt(o, "masterPort", 29500);
  const int worldSize = static_cast<int>(getInt(o, "worldSize", 1));
  const int rank = static_cast<int>(getInt(o, "rank", 0));
  const auto timeout = std::chrono::milliseconds(getInt(o, "timeoutMs", 60000));
  const std::string backend = getString(o, "backend", "gloo");
  const std::string hostname = getString(o, "hostname", "");
  const std::string iface = getString(o, "interface", "");
  const std::string configHash = getString(o, "configHash", "");
  const int threads = static_cast<int>(getInt(o, "threads", 2));
  if (worldSize < 1 || rank < 0 || rank >= worldSize) {
    throwCodedError(env, "HF_DIST_BAD_RANK", "rank " + std::to_string(rank) + " is outside world size " + std::to_string(worldSize));
  }
  if (port < 1 || port > 65535) throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "master port " + std::to_string(port) + " is not a TCP port");
  if (backend != "gloo" && backend != "nccl") throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "unknown backend '" + backend + "' (gloo or nccl)");
#if !HIPFRAC_HAS_NCCL
  if (backend == "nccl") throwCodedError(env, "HF_DIST_UNAVAILABLE", "NCCL is unavailable in this build (needs a CUDA LibTorch and nccl.h at build time)");
#endif

  auto result = std::make_shared<GroupPtr>();
  auto work = [=]() {
    auto group = std::make_shared<Group>();
    group->rank = rank;
    group->worldSize = worldSize;
    group->backend = backend;
    group->timeout = timeout;
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(worldSize);
    so.waitWorkers = false;
    so.timeout = timeout;
    group->store = c10::make_intrusive<c10d::TCPStore>(masterAddr, so);

    const std::string mine = std::to_string(worldSize) + " " + configHash;
    group->store->set("hipfrac/join/" + std::to_string(rank), bytesOf(mine));
    auto check = [&](int other) {
      const std::string key = "hipfrac/join/" + std::to_string(other);
      try {
        group->store->wait({key}, timeout);
      } catch (const std::exception&) {
        throw std::runtime_error("HF_DIST_JOIN_TIMEOUT: rank " + std::to_string(other) + " did not join within " +
                                 std::to_string(timeout.count()) + " ms (world size " + std::to_string(worldSize) +
                                 "; check --nproc-per-node/--nnodes on every node)");
      }
      const std::string theirs = stringOf(group->store->get(key));
      const auto space = theirs.find(' ');
      const std::string theirWorld = theirs.substr(0, space);
      const std::string theirHash = space == std::string::npos ? "" : theirs.substr(space + 1);
      if (theirWorld != std::to_string(worldSize)) {
        throw std::runtime_error("HF_DIST_WORLD_MISMATCH: rank " + std::to_string(rank) + " has world size " +
                                 std::to_string(worldSize) + " but rank " + std::to_string(other) + " has " + theirWorld);
      }
      if (theirHash != configHash) {
        throw std::runtime_error("HF_DIST_CONFIG_MISMATCH: the training configuration of rank " + std::to_string(rank) +
                                 " (hash " + configHash + ") differs from rank " + std::to_string(other) + "'s (hash " + theirHash + ")");
      }
    };
    if (rank == 0) {
      for (int r = 1; r < worldSize; r++) check(r);
    } else {
      check(0);
    }

    if (backend == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      if (!iface.empty()) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
      } else if (!hostname.empty()) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      options->threads = threads;
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("gloo", group->store);
      group->comm = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, worldSize, options);
    }
#if HIPFRAC_HAS_NCCL
    if (backend == "nccl") {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("nccl", group->store);
      group->comm = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, worldSize, options);
    }
#endif
    *result = group;
  };
  auto resolve = [result](Napi::Env e) -> Napi::Value {
    registerGroup(*result);
    return Napi::External<GroupPtr>::New(e, new GroupPtr(*result), [](Napi::Env, GroupPtr* p) { delete p; });
  };
  return PromiseWorker::start(env, "HF_DIST_INIT", work, resolve);
}

// Drops this handle's reference; the group closes when no reducer or pending work holds it.
Napi::Value DistCloseGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsExternal()) {
    auto* g = info[0].As<Napi::External<GroupPtr>>().Data();
    if (g != nullptr) g->reset();
  }
  return env.Undefined();
}

Napi::Value DistGroupInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupPtr& g = groupOf(env, info[0]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", g->rank);
  o.Set("worldSize", g->worldSize);
  o.Set("backend", g->backend);
  return o;
}

// Blocks (pool thread) until `work` finishes; for NCCL also until the device is idle, since its
// wait() only orders CUDA streams.
void waitWork(const GroupPtr& g, const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait(g->timeout);
  if (g->backend == "nccl") {
    const auto& hooks = at::detail::getCUDAHooks();
    hooks.deviceSynchronize(hooks.current_device());
  }
}

at::Tensor flatten(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> flat;
  flat.reserve(tensors.size());
  for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}));
  return at::cat(flat);
}

void unflattenInto(const at::Tensor& bucket, const std::vector<at::Tensor>& tensors) {
  at::NoGradGuard noGrad;
  int64_t offset = 0;
  for (const auto& t : tensors) {
    const int64_t n = t.numel();
    t.detach().copy_(bucket.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

void checkSameDtype(Napi::Env env, const std::vector<at::Tensor>& tensors, const char* what) {
  for (const auto& t : tensors) {
    if (t.scalar_type() != tensors[0].scalar_type() || t.device() != tensors[0].device()) {
      throwCodedError(env, "HF_DIST_BAD_ARGUMENT", std::string(what) + ": all tensors must share one dtype and device", true);
    }
  }
}

// distAllreduce(group, tensors[], average) → Promise: sums (or averages) the tensors across ranks in
// place, as one flattened bucket. The tensors must not be used until the promise settles.
Napi::Value DistAllreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupPtr g = groupOf(env, info[0]);
  auto tensors = tensorsArg(env, info[1], "allreduce");
  checkSameDtype(env, tensors, "allreduce");
  const bool average = info.Length() > 2 && info[2].ToBoolean().Value();
  at::Tensor bucket = flatten(tensors);
  std::vector<at::Tensor> io{bucket};
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = g->comm->allreduce(io);
  } catch (const c10::Error& e) {
    throwCodedError(env, "HF_DIST_COLLECTIVE", std::string("allreduce: ") + e.what_without_backtrace());
  }
  return PromiseWorker::start(env, "HF_DIST_COLLECTIVE", [g, w, bucket, tensors, average]() {
    waitWork(g, w);
    if (average) bucket.div_(g->worldSize);
    unflattenInto(bucket, tensors);
  });
}

// distBroadcast(group, tensors[], root) → Promise: every rank's tensors take root's values.
Napi::Value DistBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupPtr g = groupOf(env, info[0]);
  auto tensors = tensorsArg(env, info[1], "broadcast");
  checkSameDtype(env, tensors, "broadcast");
  c10d::BroadcastOptions opts;
  opts.rootRank = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
  at::Tensor bucket = flatten(tensors);
  std::vector<at::Tensor> io{bucket};
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = g->comm->broadcast(io, opts);
  } catch (const c10::Error& e) {
    throwCodedError(env, "HF_DIST_COLLECTIVE", std::string("broadcast: ") + e.what_without_backtrace());
  }
  return PromiseWorker::start(env, "HF_DIST_COLLECTIVE", [g, w, bucket, tensors]() {
    waitWork(g, w);
    unflattenInto(bucket, tensors);
  });
}

// distAllgather(group, tensor) → Promise<Tensor[]>: every rank's tensor (all of one shape), by rank.
Napi::Value DistAllgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupPtr g = groupOf(env, info[0]);
  at::Tensor input = tensorArg(env, info[1], "allgather").detach().contiguous();
  auto outputs = std::make_shared<std::vector<std::vector<at::Tensor>>>(1);
  for (int r = 0; r < g->worldSize; r++) (*outputs)[0].push_back(at::empty_like(input));
  std::vector<at::Tensor> inputs{input};
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = g->comm->allgather(*outputs, inputs);
  } catch (const c10::Error& e) {
    throwCodedError(env, "HF_DIST_COLLECTIVE", std::string("allgather: ") + e.what_without_backtrace());
  }
  return PromiseWorker::start(
      env, "HF_DIST_COLLECTIVE", [g, w, input]() { waitWork(g, w); },
      [outputs](Napi::Env e) -> Napi::Value {
        Napi::Array arr = Napi::Array::New(e, (*outputs)[0].size());
        for (size_t i = 0; i < (*outputs)[0].size(); i++) arr.Set(static_cast<uint32_t>(i), wrapTensorValue(e, (*outputs)[0][i]));
        return arr;
      });
}

Napi::Value DistBarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupPtr g = groupOf(env, info[0]);
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = g->comm->barrier();
  } catch (const c10::Error& e) {
    throwCodedError(env, "HF_DIST_COLLECTIVE", std::string("barrier: ") + e.what_without_backtrace());
  }
  return PromiseWorker::start(env, "HF_DIST_COLLECTIVE", [g, w]() { waitWork(g, w); });
}

// ---------------------------------------------------------------------------------------------
// Gradient reducer. Parameters are cut into buckets (in the order given, which the caller makes the
// reverse of registration so the last layers' gradients, ready first, fill the first bucket). A hook
// on each parameter copies its gradient into its bucket slot as autograd produces it; when a bucket
// is full and every earlier bucket has started, its all-reduce starts at once on Gloo's threads while
// backward goes on. finish() starts what is left (slots of parameters that got no gradient are zero),
// waits for every bucket off the JS thread and writes the averaged gradients into param.grad.
// Requires gradients cleared before each backward (param.grad is overwritten with the average).

struct Bucket {
  std::vector<size_t> params;  // indices into Reducer::params
  std::vector<int64_t> offsets;
  at::Tensor flat;
  size_t ready = 0;
  c10::intrusive_ptr<c10d::Work> work;
};

struct ReducerState {
  GroupPtr group;
  std::vector<at::Tensor> params;
  std::vector<size_t> bucketOf;
  std::vector<size_t> slotOf;
  std::vector<bool> seen;
  std::vector<Bucket> buckets;
  std::vector<unsigned> hookIds;
  size_t nextToLaunch = 0;
  size_t launchedDuringBackward = 0;
  bool armed = false;
  std::mutex mutex;

  void launch(size_t b) {
    Bucket& bucket = buckets[b];
    bucket.flat.div_(group->worldSize);
    std::vector<at::Tensor> io{bucket.flat};
    bucket.work = group->comm->allreduce(io);
  }

  // Starts every full bucket whose predecessors have started (collectives must be issued in the same
  // order on every rank).
  void launchReady() {
    while (nextToLaunch < buckets.size() && buckets[nextToLaunch].ready == buckets[nextToLaunch].params.size()) {
      launch(nextToLaunch);
      nextToLaunch++;
      if (armed) launchedDuringBackward++;
    }
  }

  void onGrad(size_t p, const at::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed || seen[p]) return;
    seen[p] = true;
    Bucket& bucket = buckets[bucketOf[p]];
    {
      at::NoGradGuard noGrad;
      bucket.flat.narrow(0, bucket.offsets[slotOf[p]], grad.numel()).copy_(grad.detach().reshape({-1}));
    }
    bucket.ready++;
    launchReady();
  }
};

using ReducerPtr = std::shared_ptr<ReducerState>;

ReducerPtr& reducerOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal()) throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "expected a reducer handle", true);
  auto* r = v.As<Napi::External<ReducerPtr>>().Data();
  if (r == nullptr || !*r) throwCodedError(env, "HF_DIST_CLOSED", "reducer used after release()");
  return *r;
}

// distReducerCreate(group, params[], bucketCapBytes) → reducer
Napi::Value DistReducerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupPtr g = groupOf(env, info[0]);
  auto params = tensorsArg(env, info[1], "reducer");
  checkSameDtype(env, params, "reducer");
  const int64_t capBytes = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 25 << 20;
  auto state = std::make_shared<ReducerState>();
  state->group = g;
  state->params = params;
  state->bucketOf.resize(params.size());
  state->slotOf.resize(params.size());
  state->seen.assign(params.size(), false);
  int64_t bytes = 0;
  for (size_t i = 0; i < params.size(); i++) {
    if (!params[i].requires_grad()) throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "reducer: parameter " + std::to_string(i) + " does not require grad", true);
    const int64_t size = params[i].numel() * static_cast<int64_t>(params[i].element_size());
    if (state->buckets.empty() || (bytes + size > capBytes && !state->buckets.back().params.empty())) {
      state->buckets.emplace_back();
      bytes = 0;
    }
    Bucket& b = state->buckets.back();
    state->bucketOf[i] = state->buckets.size() - 1;
    state->slotOf[i] = b.params.size();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + params[b.params.back()].numel());
    b.params.push_back(i);
    bytes += size;
  }
  for (auto& b : state->buckets) {
    const int64_t n = b.offsets.back() + params[b.params.back()].numel();
    b.flat = at::zeros({n}, params[b.params[0]].options().requires_grad(false));
  }
  std::weak_ptr<ReducerState> weak = state;
  for (size_t i = 0; i < params.size(); i++) {
    state->hookIds.push_back(params[i].register_hook([weak, i](const at::Tensor& grad) {
      if (auto s = weak.lock()) s->onGrad(i, grad);
    }));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::External<ReducerPtr>::New(env, new ReducerPtr(state), [](Napi::Env, ReducerPtr* p) { delete p; }));
  Napi::Array sizes = Napi::Array::New(env, state->buckets.size());
  for (size_t b = 0; b < state->buckets.size(); b++) sizes.Set(static_cast<uint32_t>(b), Napi::Number::New(env, static_cast<double>(state->buckets[b].flat.numel())));
  out.Set("bucketNumels", sizes);
  return out;
}

// Arms the hooks for the next backward.
Napi::Value DistReducerPrepare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReducerPtr& r = reducerOf(env, info[0]);
  std::lock_guard<std::mutex> lock(r->mutex);
  for (auto& b : r->buckets) {
    if (b.work) throwCodedError(env, "HF_DIST_REDUCER_STATE", "reducer.prepare(): the previous step was not finished");
    b.ready = 0;
  }
  r->seen.assign(r->params.size(), false);
  r->nextToLaunch = 0;
  r->launchedDuringBackward = 0;
  r->armed = true;
  return env.Undefined();
}

// → Promise<{ buckets, startedDuringBackward }>
Napi::Value DistReducerFinish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReducerPtr r = reducerOf(env, info[0]);
  size_t during = 0;
  {
    std::lock_guard<std::mutex> lock(r->mutex);
    if (!r->armed) throwCodedError(env, "HF_DIST_REDUCER_STATE", "reducer.finish() without prepare()");
    r->armed = false;
    during = r->launchedDuringBackward;
    try {
      for (size_t p = 0; p < r->params.size(); p++) {
        if (r->seen[p]) continue;
        Bucket& b = r->buckets[r->bucketOf[p]];
        b.flat.narrow(0, b.offsets[r->slotOf[p]], r->params[p].numel()).zero_();
        r->seen[p] = true;
        b.ready++;
      }
      r->launchReady();
    } catch (const c10::Error& e) {
      throwCodedError(env, "HF_DIST_COLLECTIVE", std::string("reducer: ") + e.what_without_backtrace());
    }
  }
  const size_t nBuckets = r->buckets.size();
  return PromiseWorker::start(
      env, "HF_DIST_COLLECTIVE",
      [r]() {
        at::NoGradGuard noGrad;
        std::exception_ptr failure;
        for (auto& b : r->buckets) {
          try {
            if (b.work) waitWork(r->group, b.work);
          } catch (...) {
            if (!failure) failure = std::current_exception();
          }
          b.work.reset();
        }
        if (failure) std::rethrow_exception(failure);
        for (size_t p = 0; p < r->params.size(); p++) {
          Bucket& b = r->buckets[r->bucketOf[p]];
          at::Tensor avg = b.flat.narrow(0, b.offsets[r->slotOf[p]], r->params[p].numel()).view(r->params[p].sizes());
          at::Tensor& grad = r->params[p].mutable_grad();
          if (grad.defined()) grad.copy_(avg);
          else grad = avg.clone();
        }
      },
      [nBuckets, during](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("buckets", Napi::Number::New(e, static_cast<double>(nBuckets)));
        o.Set("startedDuringBackward", Napi::Number::New(e, static_cast<double>(during)));
        return o;
      });
}

// Removes the hooks; the handle is unusable afterwards.
Napi::Value DistReducerRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return env.Undefined();
  auto* r = info[0].As<Napi::External<ReducerPtr>>().Data();
  if (r == nullptr || !*r) return env.Undefined();
  {
    std::lock_guard<std::mutex> lock((*r)->mutex);
    (*r)->armed = false;
    for (size_t i = 0; i < (*r)->params.size(); i++) (*r)->params[i].remove_hook((*r)->hookIds[i]);
  }
  r->reset();
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Synchronised batch normalisation (PyTorch's SyncBatchNorm, on any device the group serves). In training
// mode every rank normalises with the mean and variance of the global batch: each rank's per-channel mean,
// sum of squared deviations and count are all-gathered and combined (Chan et al.'s pairwise formula, in
// float64), and the running statistics take the global mean and unbiased variance. Backward all-reduces
// the two per-channel sums the input gradient needs (Σ dy, Σ dy·(x − mean)), so every rank's input gradient
// is that of one process over the whole batch; the weight and bias gradients stay local, as in PyTorch,
// and the gradient reducer averages them. Both collectives block the calling thread (forward is
// synchronous in JS; backward runs inside autograd), bounded by the group's time-out.

std::vector<int64_t> reduceDims(const at::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
  return dims;
}

std::vector<int64_t> channelShape(const at::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = x.size(1);
  return shape;
}

// Runs `work` to completion on this thread; a failure becomes a std::runtime_error naming `what`.
void waitBlocking(const GroupPtr& g, const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
  try {
    waitWork(g, work);
  } catch (const c10::Error& e) {
    throw std::runtime_error(what + " on rank " + std::to_string(g->rank) + " of " + std::to_string(g->worldSize) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error(what + " on rank " + std::to_string(g->rank) + " of " + std::to_string(g->worldSize) + ": " + e.what());
  }
}

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  // mean and invstd are the global batch's (no gradient flows to them: backward gives the full input gradient).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& mean, const at::Tensor& invstd, int64_t groupId,
                            double count) {
    const auto shape = channelShape(input);
    // As ATen's CPU batch norm: y = x·α + β with α = invstd·w, β = b − mean·α.
    at::Tensor alpha = invstd * weight;
    at::Tensor beta = bias - mean * alpha;
    at::Tensor out = input * alpha.view(shape) + beta.view(shape);
    ctx->save_for_backward({input, weight, mean, invstd});
    ctx->saved_data["group"] = groupId;
    ctx->saved_data["count"] = count;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& input = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& mean = saved[2];
    const at::Tensor& invstd = saved[3];
    const at::Tensor& dy = grads[0];
    const auto dims = reduceDims(input);
    const auto shape = channelShape(input);
    const int64_t channels = input.size(1);
    // The two per-channel sums accumulate in float64, as ATen's CPU batch norm backward does.
    at::Tensor xmu = input - mean.view(shape);
    at::Tensor dyDouble = dy.to(at::kDouble);
    at::Tensor sumDy = dyDouble.sum(dims);
    at::Tensor sumDyXmu = (dyDouble * xmu.to(at::kDouble)).sum(dims);
    dyDouble.reset();
    at::Tensor gradInput, gradWeight, gradBias;
    if (ctx->needs_input_grad(1)) gradWeight = (sumDyXmu * invstd.to(at::kDouble)).to(weight.scalar_type());
    if (ctx->needs_input_grad(2)) gradBias = sumDy.to(weight.scalar_type());
    if (ctx->needs_input_grad(0)) {
      GroupPtr g = findGroup(ctx->saved_data["group"].toInt());
      TORCH_CHECK(g != nullptr, "HF_DIST_CLOSED: sync batch norm backward after its process group was closed");
      const double count = ctx->saved_data["count"].toDouble();
      at::Tensor sums = at::cat({sumDy, sumDyXmu});
      std::vector<at::Tensor> io{sums};
      try {
        waitBlocking(g, g->comm->allreduce(io), "sync batch norm backward");
      } catch (const std::exception& e) {
        TORCH_CHECK(false, e.what());  // autograd passes c10::Error on with its message
      }
      at::Tensor meanDy = (sums.narrow(0, 0, channels) / count).to(input.scalar_type());
      at::Tensor k = (sums.narrow(0, channels, channels) / count * invstd.to(at::kDouble).pow(2)).to(input.scalar_type());
      at::Tensor scale = invstd * weight;
      gradInput = (dy - meanDy.view(shape) - xmu * k.view(shape)) * scale.view(shape);
    }
    return {gradInput, gradWeight, gradBias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor optionalTensorArg(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsNull() || v.IsUndefined()) return at::Tensor();
  return tensorArg(env, v, what);
}

// distSyncBatchNorm(group, input, weight|null, bias|null, runningMean|null, runningVar|null, momentum, eps) → Tensor:
// training-mode batch normalisation of `input` [N, C, …] with the global batch's statistics; updates the running
// buffers in place (momentum as PyTorch's exponential average). Blocks until every rank has contributed.
Napi::Value DistSyncBatchNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GroupPtr g = groupOf(env, info[0]);
  at::Tensor input = tensorArg(env, info[1], "syncBatchNorm");
  at::Tensor weight = optionalTensorArg(env, info[2], "syncBatchNorm");
  at::Tensor bias = optionalTensorArg(env, info[3], "syncBatchNorm");
  at::Tensor runningMean = optionalTensorArg(env, info[4], "syncBatchNorm");
  at::Tensor runningVar = optionalTensorArg(env, info[5], "syncBatchNorm");
  const double momentum = info[6].As<Napi::Number>().DoubleValue();
  const double eps = info[7].As<Napi::Number>().DoubleValue();
  if (input.dim() < 2 || !at::isFloatingType(input.scalar_type())) {
    throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "syncBatchNorm: expected a floating-point input [N, C, …]", true);
  }
  const int64_t channels = input.size(1);
  at::Tensor mean, invstd;
  double count = 0;
  try {
    at::NoGradGuard noGrad;
    at::Tensor x = input.detach();
    const double local = static_cast<double>(channels == 0 ? 0 : x.numel() / channels);
    // float64 accumulation, as ATen's CPU batch norm: a float32 mean errs by ~1e-7 of |mean|, which is large
    // beside the standard deviation of a channel whose values barely vary across the batch.
    auto varMean = at::var_mean(x.to(at::kDouble), reduceDims(x), /*unbiased=*/false);
    at::Tensor mine = at::cat({std::get<1>(varMean), std::get<0>(varMean) * local, at::full({1}, local, x.options().dtype(at::kDouble))});
    std::vector<std::vector<at::Tensor>> gathered(1);
    for (int r = 0; r < g->worldSize; r++) gathered[0].push_back(at::empty_like(mine));
    std::vector<at::Tensor> inputs{mine};
    waitBlocking(g, g->comm->allgather(gathered, inputs), "sync batch norm");
    at::Tensor all = at::stack(gathered[0]);  // [world, 2C + 1]: mean, sum of squared deviations, count
    at::Tensor counts = all.narrow(1, 2 * channels, 1);
    at::Tensor means = all.narrow(1, 0, channels);
    at::Tensor total = counts.sum();
    count = total.item<double>();
    if (count <= 1) {
      throwCodedError(env, "HF_DIST_BAD_ARGUMENT", "syncBatchNorm: the global batch has " + std::to_string(static_cast<int64_t>(count)) +
                                                     " value(s) per channel; training-mode batch norm needs at least 2");
    }
    at::Tensor globalMean = (means * counts).sum(0) / total;
    at::Tensor m2 = all.narrow(1, channels, channels).sum(0) + (counts * (means - globalMean).pow(2)).sum(0);
    at::Tensor biasedVar = m2 / total;
    mean = globalMean.to(input.scalar_type());
    invstd = (biasedVar + eps).rsqrt().to(input.scalar_type());
    if (runningMean.defined()) runningMean.mul_(1 - momentum).add_(globalMean.to(runningMean.scalar_type()), momentum);
    if (runningVar.defined()) runningVar.mul_(1 - momentum).add_((m2 / (count - 1)).to(runningVar.scalar_type()), momentum);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throwCodedError(env, "HF_DIST_COLLECTIVE", e.what());
  }
  at::Tensor out;
  try {
    // A custom autograd function's tensor arguments must be defined: absent affine parameters are the identity.
    if (!weight.defined()) weight = at::ones({channels}, input.options().requires_grad(false));
    if (!bias.defined()) bias = at::zeros({channels}, input.options().requires_grad(false));
    out = SyncBatchNormFunction::apply(input, weight, bias, mean, invstd, g->id, count);
  } catch (const c10::Error& e) {
    throwCodedError(env, "HF_DIST_BAD_ARGUMENT", std::string("syncBatchNorm: ") + e.what_without_backtrace());
  }
  return wrapTensorValue(env, out);
}

#else  // !HIPFRAC_HAS_GLOO

Napi::Value Unavailable(const Napi::CallbackInfo& info) {
  throwCodedError(info.Env(), "HF_DIST_UNAVAILABLE",
                  "distributed unavailable in this build (LibTorch " TORCH_VERSION
                  " without c10d/Gloo headers; install gloo headers, e.g. Debian libgloo-dev, and rebuild)");
}
#define DistCreateGroup Unavailable
#define DistCloseGroup Unavailable
#define DistGroupInfo Unavailable
#define DistAllreduce Unavailable
#define DistBroadcast Unavailable
#define DistAllgather Unavailable
#define DistBarrier Unavailable
#define DistReducerCreate Unavailable
#define DistReducerPrepare Unavailable
#define DistReducerFinish Unavailable
#define DistReducerRelease Unavailable
#define DistSyncBatchNorm Unavailable

#endif

}  // namespace

namespace hipfrac {

void registerDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("distAvailable", Napi::Function::New(env, DistAvailable));
  exports.Set("distCreateGroup", Napi::Function::New(env, DistCreateGroup));
  exports.Set("distCloseGroup", Napi::Function::New(env, DistCloseGroup));
  exports.Set("distGroupInfo", Napi::Function::New(env, DistGroupInfo));
  exports.Set("distAllreduce", Napi::Function::New(env, DistAllreduce));
  exports.Set("distBroadcast", Napi::Function::New(env, DistBroadcast));
  exports.Set("distAllgather", Napi::Function::New(env, DistAllgather));
  exports.Set("distBarrier", Napi::Function::New(env, DistBarrier));
  exports.Set("distReducerCreate", Napi::Function::New(env, DistReducerCreate));
  exports.Set("distReducerPrepare", Napi::Function::New(env, DistReducerPrepare));
  exports.Set("distReducerFinish", Napi::Function::New(env, DistReducerFinish));
  exports.Set("distReducerRelease", Napi::Function::New(env, DistReducerRelease));
  exports.Set("distSyncBatchNorm", Napi::Function::New(env, DistSyncBatchNorm));
}

}  // namespace hipfrac
