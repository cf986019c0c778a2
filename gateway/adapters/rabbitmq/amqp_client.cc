#include "gateway/adapters/rabbitmq/amqp_client.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace switchboard::gateway::rabbitmq {
namespace {

amqp_bytes_t Bytes(const std::string& s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());
  return b;
}

std::string Str(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

std::optional<int64_t> IntValue(const amqp_field_value_t& v) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_I8: return v.value.i8;
    case AMQP_FIELD_KIND_U8: return v.value.u8;
    case AMQP_FIELD_KIND_I16: return v.value.i16;
    case AMQP_FIELD_KIND_U16: return v.value.u16;
    case AMQP_FIELD_KIND_I32: return v.value.i32;
    case AMQP_FIELD_KIND_U32: return v.value.u32;
    case AMQP_FIELD_KIND_I64: return v.value.i64;
    case AMQP_FIELD_KIND_U64: return static_cast<int64_t>(v.value.u64);
    default: return std::nullopt;
  }
}

void FillMessage(const amqp_basic_properties_t& p, Message* m) {
  if (p._flags & AMQP_BASIC_APP_ID_FLAG) m->app_id = Str(p.app_id);
  if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) m->message_id = Str(p.message_id);
  if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) m->content_type = Str(p.content_type);
  if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
    for (int i = 0; i < p.headers.num_entries; ++i) {
      const auto& e = p.headers.entries[i];
      if (auto v = IntValue(e.value)) {
        m->int_headers[Str(e.key)] = *v;
      } else if (e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES) {
        m->string_headers[Str(e.key)] = Str(e.value.value.bytes);
      }
    }
  }
}

}  // namespace

AmqpClient::~AmqpClient() { Close(); }

void AmqpClient::Close() {
  if (!conn_) return;
  amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn_);
  conn_ = nullptr;
  confirms_ = false;
  next_publish_tag_ = 1;
}

absl::Status AmqpClient::Check(amqp_rpc_reply_t reply, const char* what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return absl::OkStatus();
    case AMQP_RESPONSE_NONE:
      return absl::UnavailableError(absl::StrCat(what, ": missing RPC reply"));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return absl::UnavailableError(absl::StrCat(what, ": ", amqp_error_string2(reply.library_error)));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return absl::UnavailableError(
            absl::StrCat(what, ": connection closed by broker: ", m->reply_code, " ", Str(m->reply_text)));
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        absl::Status err = m->reply_code == AMQP_NOT_FOUND
                               ? absl::NotFoundError(absl::StrCat(what, ": ", Str(m->reply_text)))
                               : absl::FailedPreconditionError(absl::StrCat(what, ": channel closed by broker: ",
                                                                            m->reply_code, " ", Str(m->reply_text)));
        // The broker closed the channel: confirm the close and open it again
        // so the connection stays usable (a passive declare of a missing
        // queue does this, for instance).
        if (absl::Status reopen = ReopenChannel(); !reopen.ok()) return reopen;
        return err;
      }
      return absl::UnavailableError(absl::StrCat(what, ": broker error, method ", reply.reply.id));
  }
  return absl::UnknownError(what);
}

absl::Status AmqpClient::ReopenChannel() {
  amqp_channel_close_ok_t close_ok{};
  if (amqp_send_method(conn_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok) != AMQP_STATUS_OK) {
    return absl::UnavailableError("amqp: cannot acknowledge the channel close");
  }
  amqp_channel_open(conn_, kChannel);
  amqp_rpc_reply_t r = amqp_get_rpc_reply(conn_);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) return absl::UnavailableError("amqp: cannot reopen the channel");
  if (confirms_) {
    amqp_confirm_select(conn_, kChannel);
    r = amqp_get_rpc_reply(conn_);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) return absl::UnavailableError("amqp: cannot re-enable confirms");
    next_publish_tag_ = 1;
  }
  return absl::OkStatus();
}

absl::Status AmqpClient::Connect(const std::string& url, const AmqpTls& tls, std::chrono::milliseconds timeout) {
  Close();
  std::vector<char> buf(url.begin(), url.end());
  buf.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) {
    return absl::InvalidArgumentError("amqp_url: must be amqp://user:pass@host:port/vhost or amqps://...");
  }
  // "amqp://host:port/" names the empty vhost; everyone means "/".
  if (info.vhost == nullptr || info.vhost[0] == '\0') info.vhost = const_cast<char*>("/");
  conn_ = amqp_new_connection();
  amqp_socket_t* socket = info.ssl ? amqp_ssl_socket_new(conn_) : amqp_tcp_socket_new(conn_);
  if (!socket) {
    Close();
    return absl::ResourceExhaustedError("amqp: cannot create a socket");
  }
  if (info.ssl) {
    amqp_ssl_socket_set_verify_peer(socket, 1);
    amqp_ssl_socket_set_verify_hostname(socket, 1);
    if (!tls.ca_file.empty() && amqp_ssl_socket_set_cacert(socket, tls.ca_file.c_str()) != AMQP_STATUS_OK) {
      Close();
      return absl::InvalidArgumentError(
          absl::StrCat("amqp_ca_file: cannot load '", tls.ca_file, "' as PEM CA certificates"));
    }
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      Close();
      return absl::InvalidArgumentError("amqp_cert_file and amqp_key_file: give both or neither");
    }
    if (!tls.cert_file.empty() &&
        amqp_ssl_socket_set_key(socket, tls.cert_file.c_str(), tls.key_file.c_str()) != AMQP_STATUS_OK) {
      Close();
      return absl::InvalidArgumentError(absl::StrCat("amqp_cert_file/amqp_key_file: cannot load '", tls.cert_file,
                                                     "' with '", tls.key_file, "'"));
    }
  }
  timeval tv = ToTimeval(timeout);
  int rc = amqp_socket_open_noblock(socket, info.host, info.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    Close();
    return absl::UnavailableError(absl::StrCat("amqp: cannot connect to ", info.host, ":", info.port,
                                               info.ssl ? " (TLS)" : "", ": ", amqp_error_string2(rc)));
  }
  absl::Status s = Check(amqp_login(conn_, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password),
                         "amqp login");
  if (s.ok()) {
    amqp_channel_open(conn_, kChannel);
    s = Check(amqp_get_rpc_reply(conn_), "amqp channel open");
  }
  if (!s.ok()) {
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    return absl::UnavailableError(s.message());
  }
  return absl::OkStatus();
}

absl::Status AmqpClient::DeclareExchange(const std::string& name, const std::string& type, bool durable) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_exchange_declare(conn_, kChannel, Bytes(name), Bytes(type), 0, durable ? 1 : 0, 0, 0, amqp_empty_table);
  return Check(amqp_get_rpc_reply(conn_), "exchange.declare");
}

absl::Status AmqpClient::DeclareQueue(const std::string& name, bool durable, const QueueArgs& args) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  std::vector<amqp_table_entry_t> entries;
  std::string k_ttl = "x-message-ttl", k_dlx = "x-dead-letter-exchange", k_dlk = "x-dead-letter-routing-key";
  if (args.message_ttl_ms) {
    amqp_table_entry_t e;
    e.key = Bytes(k_ttl);
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = *args.message_ttl_ms;
    entries.push_back(e);
  }
  if (args.dead_letter_exchange) {
    amqp_table_entry_t e;
    e.key = Bytes(k_dlx);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = Bytes(*args.dead_letter_exchange);
    entries.push_back(e);
  }
  if (args.dead_letter_routing_key) {
    amqp_table_entry_t e;
    e.key = Bytes(k_dlk);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = Bytes(*args.dead_letter_routing_key);
    entries.push_back(e);
  }
  amqp_table_t table;
  table.num_entries = static_cast<int>(entries.size());
  table.entries = entries.empty() ? nullptr : entries.data();
  amqp_queue_declare(conn_, kChannel, Bytes(name), 0, durable ? 1 : 0, 0, 0, table);
  return Check(amqp_get_rpc_reply(conn_), "queue.declare");
}

absl::StatusOr<uint32_t> AmqpClient::QueueDepth(const std::string& queue) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_queue_declare_ok_t* ok = amqp_queue_declare(conn_, kChannel, Bytes(queue), 1, 0, 0, 0, amqp_empty_table);
  if (auto s = Check(amqp_get_rpc_reply(conn_), "queue.declare passive"); !s.ok()) return s;
  return ok->message_count;
}

absl::Status AmqpClient::BindQueue(const std::string& queue, const std::string& exchange,
                                   const std::string& routing_key) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_queue_bind(conn_, kChannel, Bytes(queue), Bytes(exchange), Bytes(routing_key), amqp_empty_table);
  return Check(amqp_get_rpc_reply(conn_), "queue.bind");
}

absl::Status AmqpClient::PurgeQueue(const std::string& queue) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_queue_purge(conn_, kChannel, Bytes(queue));
  return Check(amqp_get_rpc_reply(conn_), "queue.purge");
}

absl::Status AmqpClient::EnableConfirms() {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_confirm_select(conn_, kChannel);
  absl::Status s = Check(amqp_get_rpc_reply(conn_), "confirm.select");
  if (s.ok()) confirms_ = true;
  return s;
}

absl::Status AmqpClient::Publish(const OutMessage& m, std::chrono::milliseconds timeout) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_basic_properties_t props;
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.delivery_mode = 2;  // persistent
  std::string content_type = "application/json";
  props.content_type = Bytes(content_type);
  if (!m.app_id.empty()) {
    props._flags |= AMQP_BASIC_APP_ID_FLAG;
    props.app_id = Bytes(m.app_id);
  }
  if (!m.message_id.empty()) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = Bytes(m.message_id);
  }
  std::vector<amqp_table_entry_t> entries;
  for (const auto& [k, v] : m.int_headers) {
    amqp_table_entry_t e;
    e.key = Bytes(k);
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = v;
    entries.push_back(e);
  }
  for (const auto& [k, v] : m.string_headers) {
    amqp_table_entry_t e;
    e.key = Bytes(k);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = Bytes(v);
    entries.push_back(e);
  }
  if (!entries.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers.num_entries = static_cast<int>(entries.size());
    props.headers.entries = entries.data();
  }
  int rc = amqp_basic_publish(conn_, kChannel, Bytes(m.exchange), Bytes(m.routing_key), 0, 0, &props, Bytes(m.body));
  if (rc != AMQP_STATUS_OK) return absl::UnavailableError(absl::StrCat("basic.publish: ", amqp_error_string2(rc)));
  if (!confirms_) return absl::OkStatus();
  uint64_t tag = next_publish_tag_++;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError("publisher confirm did not arrive in time");
    timeval tv = ToTimeval(left);
    amqp_frame_t frame;
    amqp_maybe_release_buffers(conn_);
    rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) return absl::DeadlineExceededError("publisher confirm did not arrive in time");
    if (rc != AMQP_STATUS_OK) return absl::UnavailableError(absl::StrCat("waiting for confirm: ", amqp_error_string2(rc)));
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        if (ack->delivery_tag == tag || (ack->multiple && ack->delivery_tag >= tag)) return absl::OkStatus();
        break;
      }
      case AMQP_BASIC_NACK_METHOD:
        return absl::UnavailableError("broker refused the message (basic.nack)");
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD:
        return absl::UnavailableError("broker closed the channel while publishing");
      default:
        break;
    }
  }
}

absl::Status AmqpClient::Qos(uint16_t prefetch) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_basic_qos(conn_, kChannel, 0, prefetch, 0);
  return Check(amqp_get_rpc_reply(conn_), "basic.qos");
}

absl::Status AmqpClient::Consume(const std::string& queue, const std::string& consumer_tag) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_basic_consume(conn_, kChannel, Bytes(queue), Bytes(consumer_tag), 0, 0, 0, amqp_empty_table);
  return Check(amqp_get_rpc_reply(conn_), "basic.consume");
}

absl::StatusOr<std::optional<Message>> AmqpClient::Next(std::chrono::milliseconds timeout) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_maybe_release_buffers(conn_);
  amqp_envelope_t env;
  timeval tv = ToTimeval(timeout);
  amqp_rpc_reply_t r = amqp_consume_message(conn_, &env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
    return std::optional<Message>();
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    // A frame other than a delivery: a close from the broker, or a stray ack.
    amqp_frame_t frame;
    int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
    if (rc != AMQP_STATUS_OK && rc != AMQP_STATUS_TIMEOUT) {
      return absl::UnavailableError(absl::StrCat("amqp: ", amqp_error_string2(rc)));
    }
    if (rc == AMQP_STATUS_OK && frame.frame_type == AMQP_FRAME_METHOD &&
        (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
         frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
      return absl::UnavailableError("amqp: the broker closed the connection");
    }
    return std::optional<Message>();
  }
  if (r.reply_type != AMQP_RESPONSE_NORMAL) return Check(r, "basic.consume");
  Message m;
  m.delivery_tag = env.delivery_tag;
  m.consumer_tag = Str(env.consumer_tag);
  m.redelivered = env.redelivered;
  m.exchange = Str(env.exchange);
  m.routing_key = Str(env.routing_key);
  m.body = Str(env.message.body);
  FillMessage(env.message.properties, &m);
  amqp_destroy_envelope(&env);
  return std::optional<Message>(std::move(m));
}

absl::Status AmqpClient::Ack(uint64_t tag) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  int rc = amqp_basic_ack(conn_, kChannel, tag, 0);
  if (rc != AMQP_STATUS_OK) return absl::UnavailableError(absl::StrCat("basic.ack: ", amqp_error_string2(rc)));
  return absl::OkStatus();
}

absl::Status AmqpClient::Reject(uint64_t tag, bool requeue) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  int rc = amqp_basic_reject(conn_, kChannel, tag, requeue ? 1 : 0);
  if (rc != AMQP_STATUS_OK) return absl::UnavailableError(absl::StrCat("basic.reject: ", amqp_error_string2(rc)));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Message>> AmqpClient::Get(const std::string& queue) {
  if (!conn_) return absl::UnavailableError("amqp: not connected");
  amqp_maybe_release_buffers(conn_);
  amqp_rpc_reply_t r = amqp_basic_get(conn_, kChannel, Bytes(queue), 1);
  if (auto s = Check(r, "basic.get"); !s.ok()) return s;
  if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return std::optional<Message>();
  auto* ok = static_cast<amqp_basic_get_ok_t*>(r.reply.decoded);
  Message m;
  m.delivery_tag = ok->delivery_tag;
  m.exchange = Str(ok->exchange);
  m.routing_key = Str(ok->routing_key);
  amqp_message_t msg;
  r = amqp_read_message(conn_, kChannel, &msg, 0);
  if (auto s = Check(r, "basic.get read"); !s.ok()) return s;
  m.body = Str(msg.body);
  FillMessage(msg.properties, &m);
  amqp_destroy_message(&msg);
  return std::optional<Message>(std::move(m));
}

}  // namespace switchboard::gateway::rabbitmq
