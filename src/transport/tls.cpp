#include "transport/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace parley {

namespace {

constexpr std::size_t kRecordBytes = 16384;  // most plaintext in one TLS record

// OpenSSL's reason for the last failure on this thread; clears the thread's error queue.
std::string last_reason() {
  unsigned long e = ERR_peek_last_error();
  std::string r;
  if (e != 0) {
    const char* s = ERR_reason_error_string(e);
    r = s ? s : "error " + std::to_string(e);
  }
  ERR_clear_error();
  return r.empty() ? "unknown reason" : r;
}

// Never asks for a passphrase (on a terminal, or anywhere): an encrypted key fails to load.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

[[noreturn]] void refuse(const std::string& what) {
  ERR_clear_error();
  throw std::runtime_error(what);
}

void check_readable(const char* option, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    refuse(std::string(option) + " " + path + ": cannot read it (" + std::strerror(errno) + ")");
  std::fclose(f);
}

}  // namespace

tls_context::tls_context(const server_config& cfg) {
  const std::string& cert = cfg.tls_cert_file;
  const std::string& key = cfg.tls_key_file;
  check_readable("tls.cert_file", cert);
  check_readable("tls.key_file", key);
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (!ctx_) refuse("cannot create a TLS context: " + last_reason());
  try {
    SSL_CTX_set_min_proto_version(ctx_,
                                  cfg.tls_min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    // No compression (CRIME), no renegotiation, no session resumption state to keep (each
    // connection does a full handshake), the server's cipher order; a peer closing TCP
    // without close_notify is an ordinary end of stream.
    SSL_CTX_set_options(ctx_, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
                                  SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_num_tickets(ctx_, 0);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    // Idle connections give their record buffers back; writes may stop after any record and
    // be retried from a moved buffer (the WebSocket's gather buffer).
    SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx_, cfg.tls_ciphers.c_str()) != 1)
      refuse("tls.ciphers \"" + cfg.tls_ciphers + "\" names no usable cipher");
    SSL_CTX_set_default_passwd_cb(ctx_, no_passphrase);

    if (SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) != 1)
      refuse("tls.cert_file " + cert + ": not a PEM certificate chain (" + last_reason() + ")");
    std::FILE* f = std::fopen(key.c_str(), "rb");
    if (!f) refuse("tls.key_file " + key + ": cannot read it (" + std::strerror(errno) + ")");
    EVP_PKEY* pkey = PEM_read_PrivateKey(f, nullptr, no_passphrase, nullptr);
    std::fclose(f);
    if (!pkey)
      refuse("tls.key_file " + key + ": not an unencrypted PEM private key (" + last_reason() +
             ")");
    X509* x = SSL_CTX_get0_certificate(ctx_);
    const bool match = x && EVP_PKEY_eq(X509_get0_pubkey(x), pkey) == 1;
    const bool used = match && SSL_CTX_use_PrivateKey(ctx_, pkey) == 1;
    EVP_PKEY_free(pkey);
    if (!match)
      refuse("tls.key_file " + key + " is not the private key of the certificate in " +
             "tls.cert_file " + cert);
    if (!used || SSL_CTX_check_private_key(ctx_) != 1)
      refuse("tls.key_file " + key + ": cannot use it (" + last_reason() + ")");
  } catch (...) {
    SSL_CTX_free(ctx_);
    throw;
  }
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

tls_channel::tls_channel(const tls_context& ctx) {
  ssl_ = SSL_new(ctx.native());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!ssl_ || !in || !out) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl_);
    throw std::runtime_error("cannot create a TLS connection: " + last_reason());
  }
  BIO_set_mem_eof_return(in, -1);  // empty: wait for more, not the end of the stream
  SSL_set_bio(ssl_, in, out);
  SSL_set_accept_state(ssl_);
}

tls_channel::~tls_channel() {
  SSL_free(ssl_);
}

tls_channel::status tls_channel::fail(const char* what) {
  failure_ = std::string(what) + ": " + last_reason();
  return status::failed;
}

void tls_channel::feed(const void* data, std::size_t n) {
  if (n > 0) BIO_write(SSL_get_rbio(ssl_), data, static_cast<int>(n));
}

bool tls_channel::has_output() const {
  return BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0;
}

void tls_channel::take_output(std::string& out) {
  BIO* b = SSL_get_wbio(ssl_);
  out.resize(BIO_ctrl_pending(b));
  if (!out.empty()) BIO_read(b, out.data(), static_cast<int>(out.size()));
}

tls_channel::status tls_channel::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) return status::done;
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ) return status::want_read;
  if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    failure_ = "the peer closed the connection";
    return status::failed;
  }
  return fail("handshake");
}

std::size_t tls_channel::read(void* buf, std::size_t n, status& st) {
  ERR_clear_error();
  std::size_t got = 0;
  int r = SSL_read_ex(ssl_, buf, n, &got);
  if (r == 1) {
    st = status::done;
    return got;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ)
    st = status::want_read;
  else if (e == SSL_ERROR_ZERO_RETURN)
    st = status::closed;
  else
    st = fail("read");
  return 0;
}

bool tls_channel::write(const void* data, std::size_t n) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ERR_clear_error();
    std::size_t done = 0;
    if (SSL_write_ex(ssl_, p, n, &done) != 1) {
      fail("write");
      return false;
    }
    p += done;
    n -= done;
  }
  return true;
}

bool tls_channel::attach(int fd, std::string& early) {
  std::array<char, kRecordBytes> buf;
  for (;;) {
    status st;
    std::size_t n = read(buf.data(), buf.size(), st);
    if (n > 0) {
      early.append(buf.data(), n);
      continue;
    }
    if (st != status::want_read) return false;
    break;
  }
  std::string out;
  take_output(out);  // an answer to a message read with the request: send it first
  if (!out.empty() && ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
                          static_cast<ssize_t>(out.size()))
    return false;
  return SSL_set_fd(ssl_, fd) == 1;
}

ssize_t tls_channel::recv(void* buf, std::size_t n) {
  ERR_clear_error();
  read_wants_write_ = false;
  errno = 0;
  std::size_t got = 0;
  int r = SSL_read_ex(ssl_, buf, n, &got);
  if (r == 1) return static_cast<ssize_t>(got);
  int e = SSL_get_error(ssl_, r);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      read_wants_write_ = true;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (errno == 0) return 0;
      return -1;
    default:
      fail("read");
      errno = EPROTO;
      return -1;
  }
}

ssize_t tls_channel::send(const iovec* iov, int cnt) {
  // One record at most per call. A small first buffer (a frame header) is gathered with
  // what follows it, so that it does not make a record of its own; the gathering is
  // deterministic, so a retry after EAGAIN passes the same bytes again.
  thread_local std::array<char, kRecordBytes> gather;
  const void* p = iov[0].iov_base;
  std::size_t n = iov[0].iov_len;
  if (cnt > 1 && n < kRecordBytes) {
    std::size_t k = 0;
    for (int i = 0; i < cnt && k < gather.size(); ++i) {
      std::size_t take = std::min(iov[i].iov_len, gather.size() - k);
      std::memcpy(gather.data() + k, iov[i].iov_base, take);
      k += take;
    }
    p = gather.data();
    n = k;
  }
  if (n == 0) return 0;
  ERR_clear_error();
  errno = 0;
  std::size_t done = 0;
  int r = SSL_write_ex(ssl_, p, n, &done);
  if (r == 1) return static_cast<ssize_t>(done);
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    if (errno == 0) errno = EPIPE;
    return -1;
  }
  fail("write");
  errno = EPROTO;
  return -1;
}

void tls_channel::shutdown() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace parley
