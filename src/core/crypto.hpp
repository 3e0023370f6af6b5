// Secrets: password hashing (Argon2id), bearer tokens and random ids, all via libsodium.
// Thread-safe. init_crypto() must be called once before any other function.
#pragma once

#include <string>

namespace parley {

enum class pw_cost { interactive, moderate, minimum };

void init_crypto();
// Argon2id hash string (includes salt and parameters). Slow on purpose: run it off the
// I/O threads. `minimum` is only for tests and benchmarks.
std::string hash_password(const std::string& password, pw_cost cost);
// Constant-time verification against a hash from hash_password().
bool verify_password(const std::string& hash, const std::string& password);
// A new bearer token: "pt_" + 43 base64url characters (256 random bits).
std::string new_token();
// What the store keeps of a token: its SHA-256 (32 bytes, binary).
std::string token_hash(const std::string& token);
// 128 random bits as 32 lowercase hex characters.
std::string random_hex_id();
// A new event id: 32 lowercase hex characters, the first 12 the time in milliseconds since
// the epoch, the other 20 random (80 bits). Ids of later events sort after earlier ones (to
// the millisecond), so the store's unique index on ids grows at its right edge instead of
// touching a random page per insert.
std::string time_ordered_id(long long now_ms);

}  // namespace parley
