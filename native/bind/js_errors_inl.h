#pragma once
#include <new>
#include "../core/error.h"

namespace onelip {

template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw make_error(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw make_error(env, code::kOutOfMemory, "out of memory");
  } catch (const std::exception& e) {
    throw make_error(env, code::kInternal, std::string("internal error: ") + e.what());
  }
}

}  // namespace onelip
