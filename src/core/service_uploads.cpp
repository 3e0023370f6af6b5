// Uploads in parley::service: recording content a user uploaded, and deciding who may
// download it. The bytes themselves are the transport's and blob_store's business.
#include "core/codec.hpp"
#include "core/service.hpp"

namespace parley {

void service::put_upload(const device_session& me, const upload_info& u,
                         std::function<result<unit>()> install, reply done) {
  store_.write(
      [me, u](write_txn& t) {
        t.put_upload(u, me.u.id, now_ms());
        return error{errc::ok, {}, {}, 0};
      },
      [u, install = std::move(install), done = std::move(done)](const error& e) {
        if (e.code != errc::ok) return done(e);
        // On the writer, after the commit: ordered with the garbage collector's removals,
        // which also run there after theirs.
        if (auto r = install(); !r) return done(r.err());
        std::string out = "{\"upload\":";
        append_upload_json(out, u);
        done(out + "}");
      });
}

void service::open_upload(const device_session& me, const std::string& id,
                          std::function<void(result<upload_info>)> done) {
  store_.read(
      [me, id, done](read_txn& t) {
        auto u = t.find_upload(id);
        if (!u || !(t.owns_upload(me.u.id, id) || t.sees_upload(me.u.id, id)))
          return done(make_error(errc::not_found, "no such upload", "id"));
        done(*u);
      },
      [done](const error& e) { done(e); });
}

}  // namespace parley
