// hipfrac_process.node: execv for Node 20, whose `process` object has no execve (Node 22.15 and 23.11 add
// process.execve). `hipfrac serve` uses it to start again with V8 options of its own while keeping its process id,
// so that a supervisor (systemd, a test, a kill -9) still holds the process that does the work.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

// execv(file, args): replaces this process's image; the environment, the process id and the standard streams
// stay. Returns only on failure, by throwing an Error that names the program and the reason.
Napi::Value Execv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsString() || !info[1].IsArray()) {
    throw Napi::TypeError::New(env, "execv(file: string, args: string[])");
  }
  const std::string file = info[0].As<Napi::String>();
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<std::string> owned;
  owned.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "execv: every argument must be a string");
    owned.push_back(v.As<Napi::String>());
  }
  std::vector<char*> argv;
  argv.reserve(owned.size() + 1);
  for (std::string& s : owned) argv.push_back(s.data());
  argv.push_back(nullptr);
  // Node marks its standard streams close-on-exec; the new image writes to the same ones.
  for (int fd = 0; fd <= 2; fd++) {
    const int flags = fcntl(fd, F_GETFD);
    if (flags != -1) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execv(file.c_str(), argv.data());
  const int error = errno;
  throw Napi::Error::New(env, "execv " + file + ": " + std::strerror(error));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("execv", Napi::Function::New(env, Execv));
  return exports;
}

}  // namespace

NODE_API_MODULE(hipfrac_process, Init)
