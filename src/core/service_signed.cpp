// Authentication with a signed token of the external auth service (core/jwt.hpp).
//
// The token's `sub` is a Parley handle, normalized as at registration. Its `sid` (or ""
// when absent) names the device: each (handle, sid) pair is one row of the devices table,
// created on first use, so delivered/read positions, receipts and presence work per device
// exactly as for Parley's tokens. The row's token_hash is the SHA-256 of
// "signed-device:<handle>\n<sid>", a value no Parley token hashes to (they are "pt_..."),
// and its expires_ms is 0, so the row can never authenticate an opaque token; a session's
// expiry is the signed token's exp plus the leeway instead.
#include <spdlog/spdlog.h>

#include "core/service.hpp"
#include "core/validate.hpp"

namespace parley {

namespace {

error refused() {
  // The same words as for an unknown Parley token: the client learns nothing more.
  return make_error(errc::unauthenticated, "the token is unknown, expired or revoked");
}

}  // namespace

void service::authenticate_signed(const std::string& token,
                                  std::function<void(result<device_session>)> done) {
  auto id = opt_.jwt->verify(token, now_ms() / 1000);
  if (!id) {
    spdlog::debug("event=signed_token_refused reason=\"{}\"", id.err().message);
    return done(refused());
  }
  auto handle = normalize_handle(id->subject);
  if (!handle) {
    spdlog::debug("event=signed_token_refused reason=\"sub is not a valid handle\"");
    return done(refused());
  }
  auto key = token_hash("signed-device:" + *handle + "\n" + id->device);
  const std::int64_t until_ms = id->valid_until_s * 1000;
  const bool auto_create = opt_.jwt_auto_create;
  store_.read(
      [this, key, h = *handle, until_ms, auto_create, done](read_txn& t) {
        if (auto d = t.find_device_by_token_hash(key)) {
          d->expires_ms = until_ms;
          d->signed_token = true;
          return done(*d);
        }
        // First use of this device (and maybe of this user): create it on the writer,
        // which looks again so that two first uses at once make one row.
        auto out = std::make_shared<device_session>();
        store_.write(
            [key, h, auto_create, out](write_txn& w) -> error {
              if (auto d = w.find_device_by_token_hash(key)) {
                *out = *d;
                return {errc::ok, {}, {}, 0};
              }
              user u;
              if (auto cred = w.find_user_by_handle(h)) {
                u = cred->u;
              } else if (!auto_create) {
                return make_error(errc::unauthenticated, "sub names no user");
              } else {
                auto nu = w.insert_user(h, "", now_ms());
                if (!nu) return nu.err();
                u = *nu;
                spdlog::info("event=user_provisioned user={} by=signed_token", u.id);
              }
              out->u = u;
              out->device = w.insert_device(u.id, key, now_ms(), 0);
              return {errc::ok, {}, {}, 0};
            },
            [out, until_ms, done](const error& e) {
              if (e.code == errc::unauthenticated) {
                spdlog::debug("event=signed_token_refused reason=\"{}\"", e.message);
                return done(refused());
              }
              if (e.code != errc::ok) return done(e);
              out->expires_ms = until_ms;
              out->signed_token = true;
              done(*out);
            });
      },
      [done](const error& e) { done(e); });
}

}  // namespace parley
