// The CPU thread pool. Size: ONELIP_NUM_THREADS, else the number of cores; setNumThreads() changes it.
#pragma once
#include <cstdint>
#include <functional>

namespace onelip {

/// Runs fn(begin, end) over [0, n) split into at most num_threads() chunks of at least `grain` items.
/// The calling thread takes part. Nested calls, and calls while another thread uses the pool, run inline.
/// Exceptions thrown by fn are rethrown (the first one) on the calling thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

int num_threads();
/// Sets the pool size (1..256); throws ERR_ARGUMENT otherwise.
void set_num_threads(int n);

}  // namespace onelip
