#include "core/crypto.hpp"

#include <sodium.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace parley {

void init_crypto() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium initialization failed");
}

std::string hash_password(const std::string& password, pw_cost cost) {
  unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  std::size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  if (cost == pw_cost::moderate) {
    ops = crypto_pwhash_OPSLIMIT_MODERATE;
    mem = crypto_pwhash_MEMLIMIT_MODERATE;
  } else if (cost == pw_cost::minimum) {
    ops = crypto_pwhash_OPSLIMIT_MIN;
    mem = crypto_pwhash_MEMLIMIT_MIN;
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops, mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("password hashing ran out of memory");
  return out;
}

bool verify_password(const std::string& hash, const std::string& password) {
  if (hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string new_token() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string("pt_") + b64;
}

std::string token_hash(const std::string& token) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return std::string(reinterpret_cast<const char*>(h), sizeof h);
}

std::string random_hex_id() {
  unsigned char raw[16];
  randombytes_buf(raw, sizeof raw);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return hex;
}

namespace {
// Random bytes for ids, drawn from the system generator 4 KiB at a time instead of one
// getrandom() call per id. Per thread, so no lock.
void id_random_bytes(unsigned char* out, std::size_t n) {
  thread_local std::array<unsigned char, 4096> pool;
  thread_local std::size_t used = pool.size();
  if (pool.size() - used < n) {
    randombytes_buf(pool.data(), pool.size());
    used = 0;
  }
  std::memcpy(out, pool.data() + used, n);
  sodium_memzero(pool.data() + used, n);  // each byte is handed out once
  used += n;
}
}  // namespace

std::string time_ordered_id(long long now_ms) {
  unsigned char raw[16];
  auto t = static_cast<unsigned long long>(now_ms);
  for (int i = 5; i >= 0; --i, t >>= 8) raw[i] = static_cast<unsigned char>(t & 0xff);
  id_random_bytes(raw + 6, sizeof raw - 6);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return hex;
}

}  // namespace parley
