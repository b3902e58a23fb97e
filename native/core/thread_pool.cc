#include "thread_pool.h"
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>
#include "error.h"

namespace onelip {
namespace {

int default_threads() {
  if (const char* env = std::getenv("ONELIP_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 256) return static_cast<int>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
}

thread_local bool t_in_pool = false;

/// Persistent workers; one job at a time (guarded by use_mutex_), the caller runs chunk 0.
class Pool {
 public:
  Pool() : size_(default_threads()) {}
  ~Pool() { stop_workers(); }

  int size() const { return size_; }

  void resize(int n) {
    std::lock_guard<std::mutex> use(use_mutex_);
    stop_workers();
    size_ = n;
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    int64_t chunks = std::min<int64_t>(size_, std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
    std::unique_lock<std::mutex> use(use_mutex_, std::defer_lock);
    if (chunks <= 1 || t_in_pool || !use.try_lock()) {
      fn(0, n);
      return;
    }
    start_workers();
    {
      std::lock_guard<std::mutex> lock(m_);
      fn_ = &fn;
      n_ = n;
      chunks_ = chunks;
      next_.store(1);
      pending_ = static_cast<int>(chunks - 1);
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    t_in_pool = true;
    try {
      fn(0, n / chunks);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m_);
      if (!error_) error_ = std::current_exception();
    }
    t_in_pool = false;
    std::unique_lock<std::mutex> lock(m_);
    done_cv_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void start_workers() {
    if (!workers_.empty()) return;
    stop_ = false;
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void worker_loop() {
    t_in_pool = true;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      for (;;) {
        int64_t c = next_.fetch_add(1);
        if (c >= chunks_) break;
        lock.unlock();
        int64_t b = n_ * c / chunks_, e = n_ * (c + 1) / chunks_;
        try {
          (*fn_)(b, e);
        } catch (...) {
          std::lock_guard<std::mutex> g(m_);
          if (!error_) error_ = std::current_exception();
        }
        lock.lock();
        if (--pending_ == 0) done_cv_.notify_one();
      }
    }
  }

  int size_;
  std::mutex use_mutex_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;
  std::atomic<int64_t> next_{0};
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers must not be joined during static teardown
  return *p;
}

}  // namespace

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) { pool().run(n, grain, fn); }

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (n < 1 || n > 256) fail(code::kArgument, "setNumThreads: n must be an integer in 1..256, got ", n);
  pool().resize(n);
}

}  // namespace onelip
