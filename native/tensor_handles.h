// What addon.cc shares with the other native sources: tensor handles to and from JS, coded errors,
// and the registration hook of the distributed functions (distributed.cc).
#pragma once

// Includers define NAPI_EXPERIMENTAL (and undefine NAPI_VERSION) before this, as addon.cc does.
#include <napi.h>

#include <ATen/ATen.h>

#include <string>

namespace hipfrac {

// The tensor held by a JS handle (an External or a Tensor object carrying one under `_h`); throws a
// coded JS error (HF_TORCH_BAD_ARGUMENT / HF_TORCH_DISPOSED) naming `what` otherwise.
const at::Tensor& tensorArg(Napi::Env env, const Napi::Value& value, const char* what);
// A new JS handle owning `tensor` (null for an undefined tensor). JS thread only.
Napi::Value wrapTensorValue(Napi::Env env, at::Tensor tensor);
// Throws a JS error carrying `code`.
[[noreturn]] void throwCodedError(Napi::Env env, const char* code, const std::string& message, bool typeError = false);

// Adds the dist* functions (process groups, collectives, the gradient reducer) to `exports`.
void registerDistributed(Napi::Env env, Napi::Object exports);

}  // namespace hipfrac
