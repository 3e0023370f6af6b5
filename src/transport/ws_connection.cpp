#include "transport/ws_connection.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/websocket/detail/frame.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <span>

#include "server/session.hpp"
#include "transport/tls.hpp"
#include "transport/write_pass.hpp"
#include "transport/ws_deflate.hpp"

namespace parley {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
namespace asio = boost::asio;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t kBatchBytes = 64 * 1024;        // most bytes gathered into one message
constexpr std::size_t kDrainedBytes = 64 * 1024;      // low watermark for when_drained (at most)
constexpr std::size_t kScratchBytes = 64 * 1024;      // per-thread read buffer
constexpr std::size_t kSpareOuts = 1024;              // write states kept per thread for reuse
constexpr std::size_t kSpareQueue = 64;               // ... with up to this many frame slots
constexpr std::size_t kSpareJoined = 8 * 1024;        // ... and this join buffer capacity
constexpr auto kSpareTrim = std::chrono::seconds(1);  // spares unused this long are freed
constexpr int kReadsPerTurn = 4;                      // then other connections get their turn
constexpr int kEventsPerPoll = 256;
constexpr auto kCloseTimeout = std::chrono::seconds(2);  // closing handshake and teardown

// RFC 6455 opcodes.
constexpr std::uint8_t op_cont = 0, op_text = 1, op_binary = 2, op_close = 8, op_ping = 9,
                       op_pong = 10;

error_code last_error() {
  return error_code(errno, boost::system::system_category());
}

// Incremental UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF), as RFC 6455 requires for text messages and close reasons.
class utf8_validator {
 public:
  bool write(const std::uint8_t* p, std::size_t n) {
    const std::uint8_t* end = p + n;
    while (p < end) {
      if (need_ == 0) {
        while (end - p >= 8) {  // ASCII, eight bytes at a time
          std::uint64_t w;
          std::memcpy(&w, p, 8);
          if (w & 0x8080808080808080ull) break;
          p += 8;
        }
        if (p == end) break;
        std::uint8_t b = *p++;
        if (b < 0x80) continue;
        lo_ = 0x80;
        hi_ = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
          need_ = 1;
        } else if (b == 0xE0) {
          need_ = 2;
          lo_ = 0xA0;
        } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
          need_ = 2;
        } else if (b == 0xED) {
          need_ = 2;
          hi_ = 0x9F;
        } else if (b == 0xF0) {
          need_ = 3;
          lo_ = 0x90;
        } else if (b >= 0xF1 && b <= 0xF3) {
          need_ = 3;
        } else if (b == 0xF4) {
          need_ = 3;
          hi_ = 0x8F;
        } else {
          return false;
        }
      } else {
        std::uint8_t b = *p++;
        if (b < lo_ || b > hi_) return false;
        lo_ = 0x80;
        hi_ = 0xBF;
        --need_;
      }
    }
    return true;
  }
  bool finish() const { return need_ == 0; }

 private:
  std::uint8_t need_ = 0, lo_ = 0x80, hi_ = 0xBF;
};

// A synchronous stream that collects what is written to it. Beast's accept() validates the
// upgrade request and writes its response (101, or 400/426 with the reason) into it; the
// connection sends those bytes itself and never keeps Beast's stream.
class capture_stream {
 public:
  using executor_type = asio::io_context::executor_type;
  capture_stream(executor_type ex, std::string* out) : ex_(ex), out_(out) {}
  executor_type get_executor() const noexcept { return ex_; }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers&, error_code& ec) {
    ec = asio::error::eof;
    return 0;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& b) {
    error_code ec;
    read_some(b, ec);
    throw boost::system::system_error(ec);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& bs, error_code& ec) {
    ec = {};
    std::size_t n = 0;
    for (auto it = asio::buffer_sequence_begin(bs); it != asio::buffer_sequence_end(bs); ++it) {
      asio::const_buffer b(*it);
      out_->append(static_cast<const char*>(b.data()), b.size());
      n += b.size();
    }
    return n;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& bs) {
    error_code ec;
    return write_some(bs, ec);
  }

 private:
  executor_type ex_;
  std::string* out_;
};

// The upgrade response for `req`; `rejected` is set when it is not a 101. A 101 announces
// `extensions` (Sec-WebSocket-Extensions) unless it is empty.
std::string upgrade_response(asio::io_context::executor_type ex,
                             const http::request<http::string_body>& req,
                             const std::string& extensions, error_code& rejected) {
  std::string out;
  websocket::stream<capture_stream> hs(ex, &out);
  hs.set_option(websocket::stream_base::decorator([&extensions](websocket::response_type& res) {
    res.set(http::field::server, "parley");
    if (res.result() == http::status::switching_protocols && !extensions.empty())
      res.set(http::field::sec_websocket_extensions, extensions);
  }));
  hs.accept(req, rejected);
  return out;
}

// XORs client payload bytes with the frame's masking key, eight bytes at a time.
template <class State>
void unmask(std::uint8_t* p, std::size_t n, State& r) {
  std::uint8_t k8[8];
  for (int i = 0; i < 8; ++i) k8[i] = r.key[(r.key_pos + i) & 3];
  std::uint64_t k;
  std::memcpy(&k, k8, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] ^= k8[i & 7];
  r.key_pos = static_cast<std::uint8_t>((r.key_pos + n) & 3);
}

std::size_t frame_header(std::uint8_t* h, std::uint8_t b0, std::size_t len) {
  h[0] = b0;
  if (len < 126) {
    h[1] = static_cast<std::uint8_t>(len);
    return 2;
  }
  if (len <= 0xFFFF) {
    h[1] = 126;
    h[2] = static_cast<std::uint8_t>(len >> 8);
    h[3] = static_cast<std::uint8_t>(len);
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; ++i)
    h[2 + i] = static_cast<std::uint8_t>(std::uint64_t(len) >> (56 - 8 * i));
  return 10;
}

class ws_connection;
struct out_state;

// One per io_context, so one per I/O thread. It owns
// - an epoll set of the context's WebSocket sockets (edge-triggered, registered once for
//   input and output). Asio watches the set's descriptor, so an idle connection has no
//   asio socket state and no pending operation: its whole footprint is its own object;
// - the deadline lists: every connection sits in one (handshake, heartbeat or closing),
//   each with a fixed duration so that appending keeps it sorted; one timer serves all;
// - the scratch buffer reads drain a socket into.
class ws_service : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  enum list_id : std::uint8_t { handshake = 0, heartbeat = 1, closing = 2, none = 3 };

  // The timer and the descriptor are made here, so that the asio services they use exist
  // before this one and are destroyed after it.
  explicit ws_service(asio::io_context& ioc)
      : asio::execution_context::service(ioc),
        ioc_(ioc),
        timer_(ioc.get_executor()),
        epoll_(ioc.get_executor()) {}
  ~ws_service() override;

  void configure(server_context& ctx, ws_registry& reg) {
    if (ctx_) return;
    ctx_ = &ctx;
    reg_ = &reg;
    deflate_.enabled = ctx.cfg.permessage_deflate == "on";
    deflate_.min_bytes = static_cast<std::size_t>(ctx.cfg.deflate_min_bytes);
    deflate_.level = static_cast<int>(ctx.cfg.deflate_level);
    auto ms = [](std::int64_t v) {
      return std::chrono::milliseconds(std::max<std::int64_t>(v, 1));
    };
    lists_[handshake].d = ms(ctx.cfg.handshake_timeout_ms);
    lists_[heartbeat].d = ms(ctx.cfg.heartbeat_timeout_ms / 2);
    lists_[closing].d = kCloseTimeout;
  }
  server_context& ctx() { return *ctx_; }
  ws_registry& reg() { return *reg_; }

  std::uint8_t* scratch() {
    if (!scratch_) scratch_ = std::make_unique<std::uint8_t[]>(kScratchBytes);
    return scratch_.get();
  }

  // permessage-deflate: the settings, and the thread's compressor and decompressor (made
  // when first used). inflated() is where an inflated message is handed to its session.
  const deflate_settings& deflate() const { return deflate_; }
  ws_deflater& deflater() {
    if (!deflater_) deflater_ = std::make_unique<ws_deflater>();
    return *deflater_;
  }
  ws_inflater& inflater() {
    if (!inflater_) inflater_ = std::make_unique<ws_inflater>();
    return *inflater_;
  }
  std::string& inflated() { return inflated_; }

  // Adds a socket to the epoll set; its events go to c until unwatch().
  error_code watch(int fd, ws_connection* c);
  void unwatch(int fd);

  // A connection's write state while it has something queued, and its return once it has
  // none: up to kSpareOuts are kept for the next connection, with the capacity of their
  // frame list and join buffer, so a connection that writes again and again does not
  // allocate (and touch fresh memory) for each write, while an idle one still holds none.
  // Spares that no take_out() needed for kSpareTrim are freed (at the next give_out()).
  std::unique_ptr<out_state> take_out();
  void give_out(std::unique_ptr<out_state> o);

  // c has frames and no write under way: its turn comes in this thread's write pass.
  void schedule_write(std::shared_ptr<ws_connection> c) { writes_.schedule(std::move(c)); }

  // Puts c at the end of list l with the deadline now + the list's duration.
  void link(ws_connection* c, list_id l, clock_type::time_point now);
  void unlink(ws_connection* c);
  void close_all(std::uint16_t code, const std::string& reason);

 private:
  struct list {
    ws_connection* head = nullptr;
    ws_connection* tail = nullptr;
    clock_type::duration d{};
  };
  using timer_type = asio::basic_waitable_timer<clock_type, asio::wait_traits<clock_type>,
                                                asio::io_context::executor_type>;
  using descriptor_type = asio::posix::basic_stream_descriptor<asio::io_context::executor_type>;

  void shutdown() override;
  void arm(clock_type::time_point t);
  void on_timer();
  void wait_events();
  void poll();

  asio::io_context& ioc_;
  server_context* ctx_ = nullptr;
  ws_registry* reg_ = nullptr;
  std::array<list, 3> lists_;
  timer_type timer_;
  clock_type::time_point armed_ = clock_type::time_point::max();
  std::uint64_t gen_ = 0;
  std::unique_ptr<std::uint8_t[]> scratch_;
  deflate_settings deflate_;
  std::unique_ptr<ws_deflater> deflater_;
  std::unique_ptr<ws_inflater> inflater_;
  std::string inflated_;
  descriptor_type epoll_;  // the epoll set, once a connection needed it
  std::vector<std::shared_ptr<ws_connection>> batch_;
  std::vector<std::unique_ptr<out_state>> spare_out_;
  std::size_t spare_low_ = 0;  // the fewest spares since spare_trimmed_
  clock_type::time_point spare_trimmed_{};
  write_pass<ws_connection> writes_{ioc_};
  bool down_ = false;
};

// Reading state of a frame or message that is not complete yet. Lives on the stack while
// a read holds whole messages only, on the heap (ws_connection::in_) across reads.
struct in_state {
  std::uint64_t remain = 0;    // payload bytes left in the current frame
  std::uint64_t msg_size = 0;  // payload bytes of the current message so far
  std::string msg;             // the current text message while it is within max_frame_bytes
  utf8_validator utf8;
  std::uint8_t key[4];
  std::uint8_t key_pos = 0;
  std::uint8_t hdr_len = 0;
  std::uint8_t op = 0;
  std::uint8_t ctl_len = 0;
  bool fin = false;
  bool in_frame = false;  // header read, payload pending
  bool in_msg = false;    // a data message started and its final frame is not complete
  bool msg_text = false;
  bool compressed = false;  // permessage-deflate: msg gathers the compressed payload
  bool keep = false;        // payload is gathered in msg
  std::uint8_t hdr[14];
  std::uint8_t ctl[125];

  bool idle() const { return hdr_len == 0 && !in_frame && !in_msg; }
};

enum class write_kind : std::uint8_t { handshake, data, control, close };

// Writing state: exists only while something is queued or being written.
struct out_state {
  std::vector<std::shared_ptr<const std::string>> q;  // queued frames from index head on
  std::size_t head = 0;
  std::size_t queued_bytes = 0;  // frames queued or being written
  std::function<void()> drained;
  // The write under way: up to two buffers, what remains of them, and what it is.
  iovec iov[2];
  std::uint8_t iov_n = 0, iov_i = 0;
  write_kind kind = write_kind::data;
  std::size_t bytes = 0;                    // queued bytes it carries
  std::shared_ptr<const std::string> lone;  // a lone frame being written
  std::string joined;                       // several frames joined, or the upgrade response
  // Pending control frames.
  bool close_pending = false;
  bool ping_pending = false;
  bool pong_pending = false;
  std::uint8_t pong_len = 0;
  std::uint16_t close_code = 0;
  std::string close_reason;
  std::uint8_t pong[125];
  std::uint8_t hdr[10];
  std::uint8_t ctl[2 + 125];  // the control frame being written
  // Until the upgrade response is out.
  bool rejected = false;  // the response refuses the upgrade
  std::optional<device_session> auth;
  std::string early;  // bytes the client sent right after its request

  // Back to the state of a new one (every member above), keeping the frame list's and the
  // join buffer's capacity up to the given bounds. Cheaper than assigning a new one, which
  // zeroes the control-frame arrays and move-assigns every member.
  void reset(std::size_t keep_slots, std::size_t keep_joined) {
    q.clear();
    if (q.capacity() > keep_slots) q = {};
    head = 0;
    queued_bytes = 0;
    drained = nullptr;
    iov_n = iov_i = 0;
    kind = write_kind::data;
    bytes = 0;
    lone.reset();
    joined.clear();
    if (joined.capacity() > keep_joined) joined = std::string();
    close_pending = ping_pending = pong_pending = false;
    pong_len = 0;
    close_code = 0;
    close_reason = std::string();
    rejected = false;
    auth.reset();
    early = std::string();
  }
};

ws_service::~ws_service() = default;

std::unique_ptr<out_state> ws_service::take_out() {
  if (spare_out_.empty()) return std::make_unique<out_state>();
  auto o = std::move(spare_out_.back());
  spare_out_.pop_back();
  spare_low_ = std::min(spare_low_, spare_out_.size());
  return o;
}

void ws_service::give_out(std::unique_ptr<out_state> o) {
  if (auto now = clock_type::now(); now - spare_trimmed_ >= kSpareTrim) {
    // The spares below the low mark waited the whole period: free them.
    spare_out_.erase(spare_out_.begin(),
                     spare_out_.begin() + static_cast<std::ptrdiff_t>(spare_low_));
    spare_low_ = spare_out_.size();
    spare_trimmed_ = now;
  }
  if (spare_out_.size() >= kSpareOuts) return;
  o->reset(kSpareQueue, kSpareJoined);
  spare_out_.push_back(std::move(o));
}

// A connection is its session too (one allocation, one control block): the session's
// protocol logic still reaches the transport only through frame_sink. While open, the
// session holds its sink, i.e. the connection holds itself, until finish().
class ws_connection final : public session, public frame_sink {
 public:
  ws_connection(ws_service& svc, int fd, executor_type ex)
      : session(svc.ctx(), ex), svc_(svc), fd_(fd) {}
  ~ws_connection() override {
    unlink();
    if (fd_ >= 0) ::close(fd_);
  }

  std::shared_ptr<ws_connection> self() {
    return std::static_pointer_cast<ws_connection>(shared_from_this());
  }

  void start(http::request<http::string_body> req, std::optional<device_session> auth,
             std::string early) {
    attach_sink(self());
    svc_.reg().added();
    svc_.link(this, ws_service::handshake, clock_type::now());
    if (auto ec = svc_.watch(fd_, this)) return finish(ec);
    auto& o = out();
    error_code rejected;
    std::string extensions;
    auto pmd = negotiate_deflate(req, svc_.deflate(), extensions);
    if (pmd.on) deflate_bits_ = static_cast<std::uint8_t>(pmd.server_window_bits);
    o.joined = upgrade_response(executor(), req, extensions, rejected);
    o.rejected = static_cast<bool>(rejected);
    o.auth = std::move(auth);
    o.early = std::move(early);
    o.iov[0] = {o.joined.data(), o.joined.size()};
    o.iov_n = 1;
    o.iov_i = 0;
    o.kind = write_kind::handshake;
    writing_ = true;
    flush();
  }

  // Reads and writes go through TLS from now on.
  void use_tls(std::unique_ptr<tls_channel> tls) { tls_ = std::move(tls); }
  void set_client(std::string a) { client_ = std::make_unique<std::string>(std::move(a)); }

  // From the epoll set.
  void on_io(std::uint32_t ev) {
    if (st_ == state::done) return;
    if ((ev & EPOLLOUT) && writing_) flush();
    const bool resume_read = (ev & EPOLLOUT) && tls_ && tls_->read_wants_write();
    if (((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || resume_read) &&
        st_ != state::handshake)
      drain(!(ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)));
  }

  void send(std::shared_ptr<const std::string> frame) override {
    if (closing_) return;
    if (auth_timer_ && authenticated()) auth_timer_.reset();
    auto& ctx = svc_.ctx();
    const auto limit = static_cast<std::size_t>(ctx.cfg.outbound_queue_bytes);
    // Over the limit, the queue is first written as far as the socket takes it: one handler
    // may queue a large batch at once (a storage batch's events) for a client that keeps
    // up. Only what the socket does not take counts against the client. (The write may
    // release out_: it is looked up again below.)
    if (out_ && out_->queued_bytes + frame->size() > limit && !writing_) {
      start_write();
      flush();
    }
    auto& o = out();
    o.queued_bytes += frame->size();
    if (o.queued_bytes > limit) {
      ctx.m->slow_consumer_closes_total.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("event=slow_consumer user={} queued_bytes={}", uid(), o.queued_bytes);
      return close(close_code::slow_consumer, "slow consumer: resume to catch up");
    }
    o.q.push_back(std::move(frame));
    write_next();
  }

  // A quarter of the outbound limit at most, so a replay round (half the limit) queued on
  // top of it never trips the slow-consumer close.
  std::size_t low_watermark() const {
    return std::min(kDrainedBytes,
                    static_cast<std::size_t>(svc_.ctx().cfg.outbound_queue_bytes) / 4);
  }

  void when_drained(std::function<void()> f) override {
    if (!out_ || out_->queued_bytes <= low_watermark()) {
      asio::post(executor(), std::move(f));
    } else {
      out_->drained = std::move(f);
    }
  }

  void close(std::uint16_t code, std::string reason) override {
    if (closing_) return;
    queue_close(code, reason);
  }

  std::string peer_address() const override {
    if (client_) return *client_;
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    if (fd_ < 0 || ::getpeername(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return {};
    char buf[INET6_ADDRSTRLEN] = {};
    const void* addr =
        sa.ss_family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&sa)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&sa)->sin_addr);
    return ::inet_ntop(sa.ss_family, addr, buf, sizeof buf) ? buf : "";
  }

  // A deadline of the list the connection was in passed (it is unlinked already).
  void on_deadline(ws_service::list_id l, clock_type::time_point now) {
    if (l == ws_service::heartbeat && st_ == state::open && !pinged_) {
      pinged_ = true;  // silent for half the heartbeat timeout: ping
      svc_.link(this, ws_service::heartbeat, now);
      if (!closing_) {
        out().ping_pending = true;
        write_next();
      }
      return;
    }
    finish(beast::error::timeout);
  }

  // The io_context is going away with the connection still open: release the socket and
  // the connection's hold on itself, without any callback.
  void abandon() {
    st_ = state::done;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    auth_timer_.reset();
    detach_sink();
  }

 private:
  friend class ws_service;
  friend class write_pass<ws_connection>;
  enum class state : std::uint8_t { handshake, open, closing, teardown, done };

  void unlink() {
    if (list_ != ws_service::none) svc_.unlink(this);
  }

  out_state& out() {
    if (!out_) out_ = svc_.take_out();
    return *out_;
  }

  static void drop_queue(out_state& o) {
    for (std::size_t i = o.head; i < o.q.size(); ++i) o.queued_bytes -= o.q[i]->size();
    o.q.clear();
    o.head = 0;
    o.ping_pending = o.pong_pending = false;
  }

  // The upgrade response is out.
  void on_handshake() {
    if (st_ == state::done) return;
    auto auth = std::move(out_->auth);
    auto early = std::move(out_->early);
    out_->joined = std::string();
    if (out_->rejected) return finish(asio::error::operation_aborted);
    auto& ctx = svc_.ctx();
    ctx.m->connections.fetch_add(1, std::memory_order_relaxed);
    ctx.m->connections_total.fetch_add(1, std::memory_order_relaxed);
    open_ = true;
    st_ = state::open;
    svc_.link(this, ws_service::heartbeat, clock_type::now());
    if (auth) {
      set_auth(std::move(*auth));
    } else {
      auth_timer_ = std::make_unique<timer_type>(executor());
      auth_timer_->expires_after(std::chrono::milliseconds(ctx.cfg.auth_timeout_ms));
      auth_timer_->async_wait([self = self()](error_code ec) {
        if (ec || self->st_ == state::done) return;
        self->auth_timer_.reset();
        if (!self->authenticated()) self->close(close_code::auth_timeout, "authentication timeout");
      });
    }
    write_next();  // what was queued meanwhile (a close during the handshake)
    if (!early.empty()) consume(reinterpret_cast<std::uint8_t*>(early.data()), early.size());
    drain();  // input that arrived before the connection was open
  }

  // ---- reading ----

  // Reads what the socket holds into the thread's scratch buffer and parses it, until the
  // socket is empty (the epoll set is edge-triggered) or the connection had its turn.
  // `short_read_empties`: the caller is an edge that reported data and no hang-up, so a
  // plain TCP read that returns less than the buffer has emptied the receive queue, and
  // data arriving later raises a new edge: the read that would only return EAGAIN is
  // skipped (one system call less per incoming frame). Not for TLS, whose reads may leave
  // bytes inside OpenSSL, nor with a hang-up pending, which needs the read that returns 0.
  void drain(bool short_read_empties = false) {
    std::uint8_t* buf = svc_.scratch();
    for (int i = 0; i < kReadsPerTurn;) {
      if (st_ == state::done) return;
      // One branch per read: a plain connection makes the same system call as before.
      ssize_t n =
          tls_ ? tls_->recv(buf, kScratchBytes) : ::recv(fd_, buf, kScratchBytes, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return finish(last_error());
      }
      if (n == 0)
        return finish(st_ == state::teardown ? error_code(websocket::error::closed)
                                             : error_code(asio::error::eof));
      ++i;
      pinged_ = false;  // any byte from the peer counts as a sign of life
      if (list_ == ws_service::heartbeat) svc_.link(this, ws_service::heartbeat, clock_type::now());
      consume(buf, static_cast<std::size_t>(n));
      if (short_read_empties && !tls_ && static_cast<std::size_t>(n) < kScratchBytes) return;
    }
    if (read_posted_ || st_ == state::done) return;
    read_posted_ = true;  // more may be waiting; no new edge will say so
    asio::post(executor(), [self = self()] {
      self->read_posted_ = false;
      if (self->st_ != state::done) self->drain();
    });
  }

  // After a protocol failure, a received close frame, or in the teardown, input is dropped.
  bool discarding() const { return failed_ || close_rcvd_ || st_ == state::teardown; }

  void consume(std::uint8_t* p, std::size_t n) {
    if (discarding()) return;
    std::optional<in_state> local;
    in_state* r = in_.get();
    if (!r) r = &local.emplace();
    parse(*r, p, n);
    if (st_ == state::done || discarding()) {
      in_.reset();
    } else if (r == in_.get()) {
      if (r->idle()) in_.reset();  // between messages again: no read state while idle
    } else if (!r->idle()) {
      in_ = std::make_unique<in_state>(std::move(*r));
    }
  }

  void parse(in_state& r, std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      if (st_ == state::done || discarding()) return;
      if (!r.in_frame) {
        std::size_t need = 2;
        if (r.hdr_len >= 2) {
          need = 2 +
                 ((r.hdr[1] & 0x7f) == 126   ? 2
                  : (r.hdr[1] & 0x7f) == 127 ? 8
                                             : 0) +
                 ((r.hdr[1] & 0x80) ? 4 : 0);
        }
        std::size_t take = std::min(n, need - r.hdr_len);
        std::memcpy(r.hdr + r.hdr_len, p, take);
        r.hdr_len = static_cast<std::uint8_t>(r.hdr_len + take);
        p += take;
        n -= take;
        if (r.hdr_len < need) continue;
        if (need == 2 && ((r.hdr[1] & 0x7f) >= 126 || (r.hdr[1] & 0x80))) continue;  // more
        r.hdr_len = 0;
        if (!begin_frame(r)) return;
        if (r.remain == 0 && !end_frame(r, {})) return;
        continue;
      }
      auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, r.remain));
      unmask(p, k, r);
      std::string_view whole;  // the entire message, straight from the read buffer
      if (r.op >= op_close) {
        std::memcpy(r.ctl + r.ctl_len, p, k);
        r.ctl_len = static_cast<std::uint8_t>(r.ctl_len + k);
      } else {
        bool entire = r.fin && k == r.remain && r.msg_size == 0;
        r.msg_size += k;
        if (!closing_ && r.compressed) {  // kept whole; checked once inflated
          if (entire)
            whole = std::string_view(reinterpret_cast<const char*>(p), k);
          else
            r.msg.append(reinterpret_cast<const char*>(p), k);
        } else if (!closing_) {
          if (r.msg_text && !r.utf8.write(p, k)) {
            fail(websocket::close_code::bad_payload, websocket::error::bad_frame_payload);
            return;
          }
          if (r.keep && r.msg_size > static_cast<std::uint64_t>(svc_.ctx().cfg.max_frame_bytes)) {
            r.keep = false;  // rejected as too large once complete; no need to keep it
            std::string().swap(r.msg);
          }
          if (r.keep) {
            if (entire)
              whole = std::string_view(reinterpret_cast<const char*>(p), k);
            else
              r.msg.append(reinterpret_cast<const char*>(p), k);
          }
        }
      }
      p += k;
      n -= k;
      r.remain -= k;
      if (r.remain == 0 && !end_frame(r, whole)) return;
    }
  }

  // Validates a complete frame header (the checks and their order are Beast's).
  bool begin_frame(in_state& r) {
    const std::uint8_t b0 = r.hdr[0], b1 = r.hdr[1];
    const bool fin = (b0 & 0x80) != 0, rsv = (b0 & 0x70) != 0;
    const std::uint8_t op = b0 & 0x0f, len7 = b1 & 0x7f;
    const auto protocol = websocket::close_code::protocol_error;
    // RSV1 marks the first frame of a compressed message, once permessage-deflate is agreed.
    const bool rsv1 = (b0 & 0x70) == 0x40 && deflate_bits_ != 0;
    switch (op) {
      case op_text:
      case op_binary:
        if (r.in_msg) return fail(protocol, websocket::error::bad_data_frame);
        if (rsv && !rsv1) return fail(protocol, websocket::error::bad_reserved_bits);
        break;
      case op_cont:
        if (!r.in_msg) return fail(protocol, websocket::error::bad_continuation);
        if (rsv) return fail(protocol, websocket::error::bad_reserved_bits);
        break;
      case op_close:
      case op_ping:
      case op_pong:
        if (!fin) return fail(protocol, websocket::error::bad_control_fragment);
        if (len7 > 125) return fail(protocol, websocket::error::bad_control_size);
        if (rsv) return fail(protocol, websocket::error::bad_reserved_bits);
        break;
      default:
        return fail(protocol, websocket::error::bad_opcode);
    }
    if (!(b1 & 0x80)) return fail(protocol, websocket::error::bad_unmasked_frame);
    std::uint64_t len = len7;
    std::size_t i = 2;
    if (len7 == 126) {
      len = (std::uint64_t(r.hdr[2]) << 8) | r.hdr[3];
      i = 4;
      if (len < 126) return fail(protocol, websocket::error::bad_size);
    } else if (len7 == 127) {
      len = 0;
      for (int j = 0; j < 8; ++j) len = (len << 8) | r.hdr[2 + j];
      i = 10;
      if (len < 65536) return fail(protocol, websocket::error::bad_size);
    }
    std::memcpy(r.key, r.hdr + i, 4);
    r.key_pos = 0;
    if (op < op_close) {
      if (op != op_cont) {
        r.in_msg = true;
        r.msg_size = 0;
        r.msg_text = op == op_text;
        r.compressed = rsv1;
        r.keep = r.msg_text || r.compressed;
        r.utf8 = utf8_validator();
        r.msg.clear();
      }
      auto hard = static_cast<std::uint64_t>(svc_.ctx().cfg.max_frame_hard_bytes);
      if (hard > 0 && (len > hard || r.msg_size > hard - len))
        return fail(websocket::close_code::too_big, websocket::error::message_too_big);
      if (r.keep && !r.compressed &&
          r.msg_size + len > static_cast<std::uint64_t>(svc_.ctx().cfg.max_frame_bytes)) {
        r.keep = false;  // rejected as too large once complete; no need to keep it
        std::string().swap(r.msg);
      }
    } else {
      r.ctl_len = 0;
    }
    r.op = op;
    r.fin = fin;
    r.remain = len;
    r.in_frame = true;
    return true;
  }

  bool end_frame(in_state& r, std::string_view whole) {
    r.in_frame = false;
    if (r.op >= op_close) return control(r);
    if (!r.fin) return true;
    r.in_msg = false;
    auto size = r.msg_size;
    r.msg_size = 0;
    if (closing_) return true;  // nothing is delivered once the connection is closing
    if (r.compressed) {
      r.compressed = false;
      std::string_view payload = whole.empty() ? std::string_view(r.msg) : whole;
      bool ok = inflated_message(r.msg_text, payload);
      r.msg.clear();
      return ok;
    }
    if (r.msg_text && !r.utf8.finish())
      return fail(websocket::close_code::bad_payload, websocket::error::bad_frame_payload);
    if (size > static_cast<std::uint64_t>(svc_.ctx().cfg.max_frame_bytes)) {
      reject_oversize(static_cast<std::size_t>(size));
    } else if (!r.msg_text) {
      on_frame(std::string_view{});  // answered as invalid JSON
    } else if (!whole.empty() || r.msg.empty()) {
      on_frame(whole);
    } else {
      on_frame(r.msg);
      r.msg.clear();
    }
    return st_ != state::done;
  }

  // A compressed message is complete: inflate it (at most max_frame_hard_bytes come out,
  // else 1009), check it as received text is checked, and hand it to the session.
  bool inflated_message(bool text, std::string_view payload) {
    const auto& cfg = svc_.ctx().cfg;
    svc_.ctx().m->ws_inflated_total.fetch_add(1, std::memory_order_relaxed);
    auto& out = svc_.inflated();
    std::size_t size = 0;
    // Text is kept whole (up to the hard limit) so that all of it is checked as UTF-8, as
    // it is when it arrives uncompressed; anything else only up to what may be used.
    const auto hard = static_cast<std::size_t>(cfg.max_frame_hard_bytes);
    auto res = svc_.inflater().inflate(
        payload, text ? hard : static_cast<std::size_t>(cfg.max_frame_bytes), hard, out, size);
    if (res == ws_inflater::result::too_big)
      return fail(websocket::close_code::too_big, websocket::error::message_too_big);
    if (res == ws_inflater::result::bad_data)
      return fail(websocket::close_code::bad_payload, websocket::error::bad_frame_payload);
    if (text) {
      utf8_validator v;
      if (!v.write(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()) || !v.finish())
        return fail(websocket::close_code::bad_payload, websocket::error::bad_frame_payload);
    }
    if (size > static_cast<std::size_t>(cfg.max_frame_bytes)) {
      reject_oversize(size);
    } else if (!text) {
      on_frame(std::string_view{});  // answered as invalid JSON
    } else {
      on_frame(out);
    }
    if (out.capacity() > kBatchBytes * 2) out = std::string();
    return st_ != state::done;
  }

  bool control(in_state& r) {
    if (r.op == op_pong) return true;  // reading it already counted as a sign of life
    if (r.op == op_ping) {
      if (closing_) return true;
      auto& o = out();  // answer the latest ping (RFC 6455 5.5.3)
      o.pong_pending = true;
      o.pong_len = r.ctl_len;
      std::memcpy(o.pong, r.ctl, r.ctl_len);
      write_next();
      return st_ != state::done;
    }
    std::uint16_t code = websocket::close_code::normal;
    const auto protocol = websocket::close_code::protocol_error;
    if (r.ctl_len == 1) return fail(protocol, websocket::error::bad_close_size);
    if (r.ctl_len >= 2) {
      code = static_cast<std::uint16_t>((r.ctl[0] << 8) | r.ctl[1]);
      if (!websocket::detail::is_valid_close_code(code))
        return fail(protocol, websocket::error::bad_close_code);
      utf8_validator v;
      if (!v.write(r.ctl + 2, r.ctl_len - 2u) || !v.finish())
        return fail(protocol, websocket::error::bad_close_payload);
    }
    close_rcvd_ = true;
    if (close_sent_)
      begin_teardown();
    else if (!closing_)
      queue_close(code, {});  // echo the peer's code, then tear down
    return false;
  }

  // _Fail the WebSocket Connection_: send a close frame with `code` (unless one went out
  // already), then tear down.
  bool fail(std::uint16_t code, websocket::error e) {
    spdlog::debug("event=ws_closed user={} reason=\"{}\"", uid(), error_code(e).message());
    failed_ = true;
    if (close_sent_)
      begin_teardown();
    else if (!closing_)
      queue_close(code, {});
    return false;
  }

  // Queues our close frame; nothing is sent or delivered after it. Frames queued while no
  // write was under way still go out first (one message, as if their write had begun at
  // once); frames queued behind a write under way are dropped.
  void queue_close(std::uint16_t code, std::string_view reason) {
    if (!writing_ && out_ && out_->head < out_->q.size()) {
      out_->ping_pending = out_->pong_pending = false;
      start_write();  // a batch of the queue (it is not empty, so out_ stays)
    }
    closing_ = true;
    auto& o = out();
    drop_queue(o);
    o.close_pending = true;
    o.close_code = code;
    o.close_reason.assign(reason.substr(0, 123));
    flush();       // the write just started; the close frame follows it
    write_next();  // or the close frame alone
  }

  // Both close frames are out (or the connection failed): shut down our side and read until
  // the peer closes, within the close timeout.
  void begin_teardown() {
    if (st_ == state::teardown || st_ == state::done) return;
    st_ = state::teardown;
    if (tls_) tls_->shutdown();  // close_notify
    ::shutdown(fd_, SHUT_WR);
    if (list_ != ws_service::closing) svc_.link(this, ws_service::closing, clock_type::now());
  }

  // ---- writing ----

  // Writing starts from the thread's write pass, after the handler that queued something:
  // what one handler queues (a hub batch, a replay round) goes out as one message, as
  // frames queued while an asynchronous write is in flight would. A write under way
  // continues by itself.
  void write_next() {
    if (writing_ || write_posted_ || st_ == state::handshake || st_ == state::done) return;
    write_posted_ = true;
    svc_.schedule_write(self());
  }

  // This connection's turn in the write pass.
  void write_turn() {
    write_posted_ = false;
    start_write();
    flush();
  }

  // Sets up the next write, if nothing is being written: control frames first (close, pong,
  // ping), then the queued frames. One lone frame goes out straight from its shared
  // buffer; several are joined into one contiguous message (a memcpy is far cheaper than
  // walking a long gather list, see bench/README.md).
  void start_write() {
    if (writing_ || !out_ || st_ == state::handshake || st_ == state::done) return;
    auto& o = *out_;
    if (o.close_pending) {
      o.close_pending = false;
      o.ctl[0] = 0x80 | op_close;
      o.ctl[1] = static_cast<std::uint8_t>(2 + o.close_reason.size());
      o.ctl[2] = static_cast<std::uint8_t>(o.close_code >> 8);
      o.ctl[3] = static_cast<std::uint8_t>(o.close_code);
      std::memcpy(o.ctl + 4, o.close_reason.data(), o.close_reason.size());
      return begin_write(o, o.ctl, 4 + o.close_reason.size(), nullptr, 0, write_kind::close, 0);
    }
    if (closing_) return release_out();
    if (o.pong_pending) {
      o.pong_pending = false;
      o.ctl[0] = 0x80 | op_pong;
      o.ctl[1] = o.pong_len;
      std::memcpy(o.ctl + 2, o.pong, o.pong_len);
      return begin_write(o, o.ctl, 2u + o.pong_len, nullptr, 0, write_kind::control, 0);
    }
    if (o.ping_pending) {
      o.ping_pending = false;
      o.ctl[0] = 0x80 | op_ping;
      o.ctl[1] = 0;
      return begin_write(o, o.ctl, 2, nullptr, 0, write_kind::control, 0);
    }
    if (o.head == o.q.size()) return release_out();
    const std::size_t first = o.head;
    std::size_t bytes = o.q[o.head++]->size();
    while (o.head < o.q.size() && bytes + o.q[o.head]->size() <= kBatchBytes)
      bytes += o.q[o.head++]->size();
    std::span<std::shared_ptr<const std::string>> frames(o.q.data() + first, o.head - first);
    const char* data = frames[0]->data();
    std::size_t size = frames[0]->size();
    if (frames.size() > 1) {
      o.joined.clear();
      o.joined.reserve(bytes + frames.size() - 1);
      o.joined.append(*frames[0]);
      for (std::size_t i = 1; i < frames.size(); ++i) {
        o.joined += '\n';
        o.joined.append(*frames[i]);
      }
      data = o.joined.data();
      size = o.joined.size();
    }
    std::uint8_t b0 = 0x80 | op_text;
    const auto& pmd = svc_.deflate();
    if (deflate_bits_ != 0 && size >= pmd.min_bytes) {
      auto& d = svc_.deflater();
      const auto reused = d.reused_total();
      auto z = d.compress(frames, {data, size}, deflate_bits_, pmd.level);
      if (z) {
        auto& m = *svc_.ctx().m;
        m.ws_deflated_total.fetch_add(1, std::memory_order_relaxed);
        if (d.reused_total() != reused)
          m.ws_deflate_reused_total.fetch_add(1, std::memory_order_relaxed);
        o.lone = std::move(z);  // held until written, like a lone frame
        data = o.lone->data();
        size = o.lone->size();
        b0 |= 0x40;  // RSV1: compressed
      }
    }
    if (!(b0 & 0x40) && frames.size() == 1) o.lone = frames[0];
    for (auto& f : frames) f.reset();
    if (o.head == o.q.size()) {
      o.q.clear();
      o.head = 0;
    } else if (o.head >= 64 && o.head * 2 >= o.q.size()) {
      o.q.erase(o.q.begin(), o.q.begin() + static_cast<std::ptrdiff_t>(o.head));
      o.head = 0;
    }
    std::size_t hl = frame_header(o.hdr, b0, size);
    begin_write(o, o.hdr, hl, data, size, write_kind::data, bytes);
  }

  void begin_write(out_state& o, const void* a, std::size_t an, const void* b, std::size_t bn,
                   write_kind kind, std::size_t bytes) {
    o.iov[0] = {const_cast<void*>(a), an};
    o.iov[1] = {const_cast<void*>(b), bn};
    o.iov_n = bn > 0 ? 2 : 1;
    o.iov_i = 0;
    o.kind = kind;
    o.bytes = bytes;
    writing_ = true;
  }

  // Writes until the socket is full (an EPOLLOUT edge resumes) or nothing is left. Never
  // calls back into the session: it may be running inside send().
  void flush() {
    if (flushing_) return;
    flushing_ = true;
    while (writing_ && st_ != state::done) {
      auto& o = *out_;
      msghdr mh{};
      mh.msg_iov = o.iov + o.iov_i;
      mh.msg_iovlen = static_cast<std::size_t>(o.iov_n - o.iov_i);
      ssize_t n = tls_ ? tls_->send(mh.msg_iov, static_cast<int>(mh.msg_iovlen))
                       : ::sendmsg(fd_, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        fail_write(last_error());
        break;
      }
      auto left = static_cast<std::size_t>(n);
      while (o.iov_i < o.iov_n && left >= o.iov[o.iov_i].iov_len) left -= o.iov[o.iov_i++].iov_len;
      if (o.iov_i < o.iov_n) {
        o.iov[o.iov_i].iov_base = static_cast<char*>(o.iov[o.iov_i].iov_base) + left;
        o.iov[o.iov_i].iov_len -= left;
        continue;
      }
      writing_ = false;
      complete_write(o);
      start_write();
    }
    flushing_ = false;
  }

  void complete_write(out_state& o) {
    switch (o.kind) {
      case write_kind::handshake:
        asio::post(executor(), [self = self()] { self->on_handshake(); });
        break;
      case write_kind::data:
        o.queued_bytes -= std::min(o.queued_bytes, o.bytes);
        o.lone.reset();
        if (o.joined.capacity() > kBatchBytes * 2) o.joined = std::string();
        o.joined.clear();
        break;
      case write_kind::control:
        break;
      case write_kind::close:
        close_sent_ = true;
        if (close_rcvd_ || failed_) {
          begin_teardown();
        } else {  // wait for the peer's close frame
          st_ = state::closing;
          svc_.link(this, ws_service::closing, clock_type::now());
        }
        break;
    }
    if (o.drained && !closing_ && o.queued_bytes <= low_watermark()) {
      asio::post(executor(), std::move(o.drained));  // not from inside send()
      o.drained = nullptr;
    }
  }

  // The socket failed: nothing more is written; the connection finishes from the executor,
  // not from inside the session call that may have got us here.
  void fail_write(error_code ec) {
    writing_ = false;
    closing_ = true;
    if (out_) {
      drop_queue(*out_);
      out_->close_pending = false;
    }
    asio::post(executor(), [self = self(), ec] { self->finish(ec); });
  }

  // Nothing queued or being written: the connection keeps no write state.
  void release_out() {
    if (writing_ || !out_) return;
    auto& o = *out_;
    if (o.head == o.q.size() && !o.drained && !o.close_pending && !o.ping_pending &&
        !o.pong_pending)
      svc_.give_out(std::move(out_));
  }

  void finish(error_code ec) {
    if (st_ == state::done) return;
    if (ec && ec != websocket::error::closed && ec != asio::error::operation_aborted &&
        ec != asio::error::eof)
      spdlog::debug("event=ws_closed user={} reason=\"{}\"", uid(), ec.message());
    auto keep = self();
    st_ = state::done;
    closing_ = true;
    writing_ = false;
    auth_timer_.reset();
    unlink();
    svc_.unwatch(fd_);
    ::close(fd_);
    fd_ = -1;
    tls_.reset();
    in_.reset();
    out_.reset();
    auto& ctx = svc_.ctx();
    if (open_) ctx.m->connections.fetch_sub(1, std::memory_order_relaxed);
    open_ = false;
    svc_.reg().removed();
    on_closed();
  }

  using timer_type = asio::basic_waitable_timer<clock_type, asio::wait_traits<clock_type>,
                                                asio::io_context::executor_type>;

  ws_service& svc_;
  ws_connection* prev_ = nullptr;  // in svc_'s list list_
  ws_connection* next_ = nullptr;
  clock_type::time_point deadline_{};
  std::unique_ptr<in_state> in_;            // only while a frame or message is incomplete
  std::unique_ptr<out_state> out_;          // only while something is queued or written
  std::unique_ptr<timer_type> auth_timer_;  // only until authenticated
  std::unique_ptr<tls_channel> tls_;        // null: plain TCP
  std::unique_ptr<std::string> client_;     // set when a trusted proxy forwarded it
  int fd_;
  std::uint8_t list_ = ws_service::none;
  std::uint8_t deflate_bits_ = 0;  // permessage-deflate agreed: the server's window bits; 0: off
  state st_ = state::handshake;
  bool read_posted_ : 1 = false;   // a read turn is posted
  bool write_posted_ : 1 = false;  // a write start is posted
  bool writing_ : 1 = false;       // out_ holds a write under way
  bool flushing_ : 1 = false;      // inside flush()
  bool closing_ : 1 = false;  // a close frame is queued or out: nothing more is sent or delivered
  bool close_sent_ : 1 = false;  // our close frame is out
  bool close_rcvd_ : 1 = false;  // the peer's close frame arrived
  bool failed_ : 1 = false;      // protocol failure: closing with an error code
  bool pinged_ : 1 = false;      // silent since the last heartbeat ping
  bool open_ : 1 = false;        // counted in the connections gauge
};

error_code ws_service::watch(int fd, ws_connection* c) {
  if (!epoll_.is_open()) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return last_error();
    error_code ec;
    epoll_.assign(ep, ec);
    if (ec) {
      ::close(ep);
      return ec;
    }
    wait_events();
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = c;
  if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) return last_error();
  return {};
}

void ws_service::unwatch(int fd) {
  if (epoll_.is_open() && fd >= 0) ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
}

void ws_service::wait_events() {
  epoll_.async_wait(asio::posix::descriptor_base::wait_read, [this](error_code ec) {
    if (!ec) poll();
  });
}

// The epoll set became readable (asio watches it edge-triggered): take its events until it
// has none left, a batch at a time, letting other handlers run between full batches.
void ws_service::poll() {
  std::array<epoll_event, kEventsPerPoll> evs;
  int n = ::epoll_wait(epoll_.native_handle(), evs.data(), kEventsPerPoll, 0);
  const bool again = n == kEventsPerPoll || (n < 0 && errno == EINTR);
  if (n < 0 && !again) spdlog::error("event=epoll_wait_failed what=\"{}\"", last_error().message());
  if (n > 0) {
    // Every connection in the set is alive (it holds itself until it leaves the set), and
    // stays so for the batch even if another one's handler ends it.
    for (int i = 0; i < n; ++i)
      batch_.push_back(static_cast<ws_connection*>(evs[i].data.ptr)->self());
    for (int i = 0; i < n; ++i) batch_[i]->on_io(evs[i].events);
    batch_.clear();
  }
  if (again)
    asio::post(ioc_.get_executor(), [this] { poll(); });
  else
    wait_events();
}

void ws_service::link(ws_connection* c, list_id l, clock_type::time_point now) {
  if (down_) return;
  auto& L = lists_[l];
  c->deadline_ = now + L.d;
  if (c->list_ == l && L.tail == c) {
    arm(c->deadline_);
    return;
  }
  if (c->list_ != none) unlink(c);
  c->prev_ = L.tail;
  c->next_ = nullptr;
  if (L.tail)
    L.tail->next_ = c;
  else
    L.head = c;
  L.tail = c;
  c->list_ = l;
  arm(c->deadline_);
}

void ws_service::unlink(ws_connection* c) {
  if (c->list_ == none) return;
  auto& L = lists_[c->list_];
  if (c->prev_)
    c->prev_->next_ = c->next_;
  else
    L.head = c->next_;
  if (c->next_)
    c->next_->prev_ = c->prev_;
  else
    L.tail = c->prev_;
  c->prev_ = c->next_ = nullptr;
  c->list_ = none;
}

void ws_service::arm(clock_type::time_point t) {
  if (t >= armed_) return;  // an earlier wake-up is pending; it re-arms for the rest
  armed_ = t;
  timer_.expires_at(t);
  timer_.async_wait([this, g = ++gen_](error_code ec) {
    if (ec || g != gen_) return;
    armed_ = clock_type::time_point::max();
    on_timer();
  });
}

void ws_service::on_timer() {
  auto now = clock_type::now();
  for (std::uint8_t i = 0; i < lists_.size(); ++i) {
    auto& L = lists_[i];
    while (L.head && L.head->deadline_ <= now) {
      auto c = L.head->self();
      unlink(c.get());
      c->on_deadline(static_cast<list_id>(i), now);
    }
  }
  auto next = clock_type::time_point::max();
  for (auto& L : lists_)
    if (L.head) next = std::min(next, L.head->deadline_);
  if (next != clock_type::time_point::max()) arm(next);
}

void ws_service::close_all(std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<ws_connection>> all;
  for (auto& L : lists_)
    for (auto* c = L.head; c; c = c->next_) all.push_back(c->self());
  for (auto& c : all) c->close(code, reason);
}

// The io_context is going away: connections still open let go of their sockets and of
// themselves; pending operations are destroyed next, without running.
void ws_service::shutdown() {
  down_ = true;
  std::vector<std::shared_ptr<ws_connection>> all;
  for (auto& L : lists_) {
    for (auto* c = L.head; c;) {
      auto* next = c->next_;
      all.push_back(c->self());
      c->prev_ = c->next_ = nullptr;
      c->list_ = none;
      c = next;
    }
    L.head = L.tail = nullptr;
  }
  for (auto& c : all) c->abandon();
  writes_.clear();
}

}  // namespace

void ws_registry::close_all(std::uint16_t code, const std::string& reason) {
  for (auto* io : ios_)
    asio::post(*io,
               [io, code, reason] { asio::use_service<ws_service>(*io).close_all(code, reason); });
}

void start_websocket(server_context& ctx, ws_registry& reg, ws_socket sock,
                     std::unique_ptr<tls_channel> tls, http::request<http::string_body> req,
                     std::optional<device_session> auth, std::string early,
                     std::unique_ptr<connection_limits::ticket> ticket, std::string client) {
  auto ex = sock.get_executor();
  auto& svc = asio::use_service<ws_service>(ex.context());
  svc.configure(ctx, reg);
  // The connection keeps the bare descriptor: asio's per-socket state goes back to its pool.
  error_code ec;
  int fd = sock.release(ec);
  if (ec) return;  // the socket closes with `sock`
  if (tls && !tls->attach(fd, early)) {
    spdlog::debug("event=ws_closed reason=\"tls: {}\"", tls->failure());
    ::close(fd);
    return;
  }
  auto c = std::make_shared<ws_connection>(svc, fd, ex);
  if (tls) c->use_tls(std::move(tls));
  if (!client.empty()) c->set_client(std::move(client));
  c->set_ticket(std::move(ticket));
  c->start(std::move(req), std::move(auth), std::move(early));
}

}  // namespace parley
