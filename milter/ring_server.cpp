// io_uring event threads for the milter protocol (see ring_server.hpp).
#include "milter/ring_server.hpp"

#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "io/thread_name.hpp"
#include "milter/server.hpp"

namespace dmarc::milter {
namespace {

constexpr unsigned kRingEntries = 1024;
constexpr unsigned kRingFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
constexpr std::size_t kReadBytes = 8192;  // two of Postfix's 4 KiB VSTREAM writes
constexpr int kMaxWorkers = 4096;
constexpr auto kWorkerIdle = std::chrono::seconds(60);

// user_data: a connection's address with the operation in its low bits (allocations are
// 16-byte aligned), or one of the ring's own operations with no address.
enum Op : std::uint64_t {
    kAccept = 1,
    kEvent = 2,
    kAcceptRetry = 3,
    kRead = 4,
    kSend = 5,
    kClose = 6,
};
constexpr std::uint64_t kOpMask = 7;
static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ > kOpMask, "operation bits in the address");

// A read buffer: not cleared, only what a read returned is looked at. A few are kept for the
// next connections; more would hold memory after a burst of connections (bench/steps/90-soak).
using ReadBuffer = std::array<char, kReadBytes>;
constexpr std::size_t kSpareBuffers = 32;

struct Connection {
    Connection(Services& services, int descriptor, std::unique_ptr<ReadBuffer> buffer)
        : fd(descriptor), protocol(services), in(std::move(buffer)) {}
    int fd;
    ProtocolConnection protocol;
    std::string out;  // replies: untouched from their send's submission to its completion
    std::unique_ptr<ReadBuffer> in;
    int ops = 0;           // submitted, not yet completed (a worker's turn counts as one)
    bool closing = false;  // the close is submitted
    bool busy = false;     // counted in RingListener::busy
};

class Ring;

// Threads that may wait: they finish end-of-message decisions that need the network.
class Workers {
  public:
    // false: no worker thread runs and none could be started; the caller decides it itself.
    bool submit(Ring* ring, Connection* connection);

  private:
    void run();
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::pair<Ring*, Connection*>> jobs_;
    int idle_ = 0, total_ = 0;
};

class Ring {
  public:
    Ring(Services& services, const RingListener& listener, Workers& workers)
        : services_(services), listener_(listener), workers_(workers) {}
    ~Ring() {
        if (ready_) io_uring_queue_exit(&ring_);
        if (event_fd_ >= 0) ::close(event_fd_);
    }
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    // On the thread that will run it (the ring has a single issuer). 0 or -errno.
    int init() {
        event_fd_ = ::eventfd(0, EFD_CLOEXEC);
        if (event_fd_ < 0) return -errno;
        io_uring_params params{};
        params.flags = kRingFlags;
        int r = io_uring_queue_init_params(kRingEntries, &ring_, &params);
        if (r < 0) return r;
        ready_ = true;
        return 0;
    }

    [[noreturn]] void run();

    // From a worker: `connection` is decided; `keep` false ends it.
    void hand_back(Connection* connection, bool keep) {
        {
            std::lock_guard lock(done_mutex_);
            done_.emplace_back(connection, keep);
        }
        std::uint64_t one = 1;
        while (::write(event_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }

  private:
    io_uring_sqe* sqe() {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        while (s == nullptr) {  // the queue is full: hand it to the kernel and take a slot
            io_uring_submit(&ring_);
            s = io_uring_get_sqe(&ring_);
        }
        return s;
    }
    static std::uint64_t tag(Connection* c, Op op) {
        return reinterpret_cast<std::uint64_t>(c) | op;
    }

    void arm_accept() {
        io_uring_sqe* s = sqe();
        io_uring_prep_multishot_accept(s, listener_.fd, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(s, kAccept);
    }
    void arm_event() {
        io_uring_sqe* s = sqe();
        io_uring_prep_read(s, event_fd_, &event_value_, sizeof(event_value_), 0);
        io_uring_sqe_set_data64(s, kEvent);
    }
    // The read that follows `link`ed after a send: it starts once the reply is out.
    void arm_read(Connection* c) {
        io_uring_sqe* s = sqe();
        io_uring_prep_recv(s, c->fd, c->in->data(), c->in->size(), 0);
        io_uring_sqe_set_data64(s, tag(c, kRead));
        ++c->ops;
    }
    void arm_close(Connection* c) {
        c->closing = true;
        c->protocol.close();
        io_uring_sqe* s = sqe();
        io_uring_prep_close(s, c->fd);
        io_uring_sqe_set_data64(s, tag(c, kClose));
        ++c->ops;
    }
    void set_busy(Connection* c, bool on) {
        if (c->busy == on) return;
        c->busy = on;
        listener_.busy->fetch_add(on ? 1 : -1);
    }

    // After a feed: send what it produced, then read on (or close).
    void after_feed(Connection* c, ProtocolConnection::Fed fed) {
        if (fed == ProtocolConnection::Fed::blocked) {
            services_.count_dns_wait();
            ++c->ops;
            if (workers_.submit(this, c)) return;
            --c->ops;  // out of threads: better this thread waits than the message is lost
            fed = c->protocol.resume(c->out) ? ProtocolConnection::Fed::more
                                             : ProtocolConnection::Fed::closed;
        }
        if (c->out.empty()) {
            set_busy(c, false);
        } else {
            io_uring_sqe* s = sqe();
            io_uring_prep_send(s, c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL | MSG_WAITALL);
            io_uring_sqe_set_data64(s, tag(c, kSend));
            // A failed send cancels the read linked after it; the close runs regardless.
            s->flags |= fed == ProtocolConnection::Fed::more ? IOSQE_IO_LINK : IOSQE_IO_HARDLINK;
            ++c->ops;
        }
        if (fed == ProtocolConnection::Fed::more) {
            arm_read(c);
        } else {
            arm_close(c);
        }
    }

    void completed(const io_uring_cqe* cqe);
    void accepted(const io_uring_cqe* cqe);
    void handed_back();

    Services& services_;
    RingListener listener_;
    Workers& workers_;
    io_uring ring_{};
    bool ready_ = false;
    int event_fd_ = -1;
    std::uint64_t event_value_ = 0;
    std::mutex done_mutex_;
    std::vector<std::pair<Connection*, bool>> done_, taken_;
    std::vector<std::unique_ptr<ReadBuffer>> spare_;
};

void Ring::run() {
    arm_accept();
    arm_event();
    while (true) {
        int r = io_uring_submit_and_wait(&ring_, 1);
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY && r != -EAGAIN) {
            // Not expected from a ring that works; do not spin on it.
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        unsigned head = 0, seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            completed(cqe);
        }
        io_uring_cq_advance(&ring_, seen);
    }
}

void Ring::completed(const io_uring_cqe* cqe) {
    const std::uint64_t data = cqe->user_data;
    switch (data & kOpMask) {
        case kAccept:
            accepted(cqe);
            return;
        case kAcceptRetry:
            if (!listener_.stopping->load()) arm_accept();
            return;
        case kEvent:
            handed_back();
            arm_event();
            return;
        default:
            break;
    }
    auto* c = reinterpret_cast<Connection*>(data & ~kOpMask);
    --c->ops;
    const int res = cqe->res;
    switch (data & kOpMask) {
        case kRead:
            if (c->closing) break;
            if (res <= 0) {  // the MTA closed, an error, or the send before it failed
                set_busy(c, false);
                arm_close(c);
                break;
            }
            set_busy(c, true);
            try {
                after_feed(
                    c, c->protocol.feed_no_wait(
                           std::string_view(c->in->data(), static_cast<std::size_t>(res)), c->out));
            } catch (...) {
                // Out of memory in the middle of a batch: this connection ends (the MTA applies
                // milter_default_action), the others go on.
                services_.count_internal_error();
                c->out.clear();
                set_busy(c, false);
                if (!c->closing) arm_close(c);
            }
            break;
        case kSend:
            c->out.clear();
            set_busy(c, false);
            break;
        case kClose:
            break;
        default:
            break;
    }
    if (c->closing && c->ops == 0) {
        if (spare_.size() < kSpareBuffers) spare_.push_back(std::move(c->in));
        delete c;
    }
}

void Ring::accepted(const io_uring_cqe* cqe) {
    if (cqe->res >= 0) {
        Connection* c = nullptr;
        try {
            std::unique_ptr<ReadBuffer> buffer;
            if (spare_.empty()) {
                buffer = std::make_unique_for_overwrite<ReadBuffer>();
            } else {
                buffer = std::move(spare_.back());
                spare_.pop_back();
            }
            c = new Connection(services_, cqe->res, std::move(buffer));
        } catch (...) {
            ::close(cqe->res);
        }
        if (c != nullptr) arm_read(c);
    }
    if ((cqe->flags & IORING_CQE_F_MORE) != 0 || listener_.stopping->load()) return;
    // The multishot accept ended: after a connection (the completion queue was full) or a
    // client gone before its accept, arm it again at once. Any other error (out of
    // descriptors or memory, or one that would come back at once): wait a little, never spin.
    const int err = -cqe->res;
    if (cqe->res >= 0 || err == ECONNABORTED || err == EINTR) {
        arm_accept();
    } else {
        static __kernel_timespec pause{0, 50'000'000};
        io_uring_sqe* s = sqe();
        io_uring_prep_timeout(s, &pause, 0, 0);
        io_uring_sqe_set_data64(s, kAcceptRetry);
    }
}

void Ring::handed_back() {
    {
        std::lock_guard lock(done_mutex_);
        taken_.swap(done_);
    }
    for (auto [c, keep] : taken_) {
        --c->ops;
        after_feed(c, keep ? ProtocolConnection::Fed::more : ProtocolConnection::Fed::closed);
    }
    taken_.clear();
}

bool Workers::submit(Ring* ring, Connection* connection) {
    bool start = false;
    {
        std::lock_guard lock(mutex_);
        jobs_.emplace_back(ring, connection);
        // Idle workers not yet woken for earlier jobs do not count: a job must never queue
        // behind another that waits on DNS.
        if (jobs_.size() > static_cast<std::size_t>(idle_) && total_ < kMaxWorkers) {
            ++total_;
            start = true;
        }
    }
    if (!start) {
        ready_.notify_one();
        return true;
    }
    try {
        std::thread([this] { run(); }).detach();
        return true;
    } catch (...) {
        std::lock_guard lock(mutex_);
        --total_;
        if (total_ > 0) return true;  // a running worker takes the job in turn
        std::erase(jobs_, std::pair<Ring*, Connection*>{ring, connection});
        return false;
    }
}

void Workers::run() {
    io::name_this_thread("dmarc-dnswait");
    std::unique_lock lock(mutex_);
    while (true) {
        ++idle_;
        bool got = ready_.wait_for(lock, kWorkerIdle, [this] { return !jobs_.empty(); });
        --idle_;
        if (!got) {
            --total_;
            return;
        }
        auto [ring, c] = jobs_.front();
        jobs_.pop_front();
        lock.unlock();
        bool keep = false;
        try {
            keep = c->protocol.resume(c->out);
        } catch (...) {  // out of memory: this connection ends, the MTA applies its default
            c->out.clear();
        }
        ring->hand_back(c, keep);
        lock.lock();
    }
}

}  // namespace

bool start_rings(Services& services, const RingListener& listener, int threads, std::string& why) {
    {
        // The same set-up as the event threads', to learn now whether the kernel allows it.
        io_uring probe{};
        io_uring_params params{};
        params.flags = kRingFlags;
        int r = io_uring_queue_init_params(8, &probe, &params);
        if (r < 0) {
            why = std::strerror(-r);
            return false;
        }
        io_uring_queue_exit(&probe);
    }
    // Shared by every ring for the life of the process, like the rings themselves.
    static Workers* workers = new Workers();
    int started = 0;
    for (int i = 0; i < threads; ++i) {
        std::promise<int> ready;
        std::future<int> result = ready.get_future();
        try {
            std::thread([&services, listener, ready = std::move(ready)]() mutable {
                io::name_this_thread("dmarc-ring");
                auto ring = std::make_unique<Ring>(services, listener, *workers);
                int r = ring->init();
                ready.set_value(r);
                if (r == 0) ring.release()->run();
            }).detach();
        } catch (...) {
            break;
        }
        int r = result.get();
        if (r < 0) {
            why = std::strerror(-r);
            break;
        }
        ++started;
    }
    return started > 0;
}

}  // namespace dmarc::milter
