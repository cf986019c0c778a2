#include "gateway/adapters/storage_queue/queue_client.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/azure/http_client.h"
#include "common/azure/shared_key.h"
#include "common/azure/url.h"
#include "common/azure/xml.h"

namespace switchboard::gateway::storage_queue {
namespace {

using azure::TagText;
using azure::XmlEscape;

struct Call {
  std::string method = "GET";
  std::string path;  // relative to the endpoint: "/queue" or "/queue/messages[/id]"
  std::map<std::string, std::string> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

std::string Trimmed(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// "http://host:port/acct" -> "/acct"; "https://acct.queue..." -> "".
std::string EndpointPath(const std::string& endpoint) {
  auto scheme = endpoint.find("://");
  auto slash = endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return "";
  return Trimmed(endpoint.substr(slash));
}

absl::StatusOr<azure::HttpResponse> Send(const QueueAccount& a, Call call) {
  azure::HttpRequest req;
  req.method = call.method;
  req.url = absl::StrCat(Trimmed(a.endpoint), call.path);
  if (!call.query.empty()) absl::StrAppend(&req.url, "?", azure::BuildQuery(call.query));
  req.timeout_ms = a.timeout_ms;
  azure::SignableRequest s;
  s.method = call.method;
  s.path = EndpointPath(a.endpoint) + call.path;
  s.query = call.query;
  call.headers.emplace_back("x-ms-date", azure::Rfc1123(absl::Now()));
  call.headers.emplace_back("x-ms-version", a.api_version);
  for (const auto& [k, v] : call.headers) s.headers[k] = v;
  s.content_length = static_cast<int64_t>(call.body.size());
  auto auth = azure::SharedKeyAuthorization(a.account, a.key, s);
  if (!auth.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("azure_storage_key: ", auth.status().message()));
  }
  call.headers.emplace_back("Authorization", *auth);
  req.headers = std::move(call.headers);
  req.body = std::move(call.body);
  return azure::PerformHttp(req);
}

// Maps an HTTP error answer to a status naming the operation.
absl::Status HttpError(absl::string_view op, absl::string_view queue, const azure::HttpResponse& r) {
  std::string code = r.header("x-ms-error-code");
  if (code.empty()) code = TagText(r.body, "Code");
  std::string msg = absl::StrCat("azure queue ", op, " on '", queue, "': HTTP ", r.status,
                                 code.empty() ? "" : absl::StrCat(" ", code));
  if (r.status >= 500) return absl::UnavailableError(msg);
  if (r.status == 404) return absl::NotFoundError(msg);
  if (r.status == 401 || r.status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(msg, "; check azure_storage_account and azure_storage_key"));
  }
  return absl::InvalidArgumentError(msg);
}

absl::Status Reached(absl::string_view op, absl::string_view queue, const absl::StatusOr<azure::HttpResponse>& r) {
  if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat("azure queue ", op, " on '", queue, "': ",
                                                                    r.status().message()));
  return absl::OkStatus();
}

}  // namespace

std::vector<QueueMessage> ParseMessagesList(absl::string_view xml) {
  std::vector<QueueMessage> out;
  size_t pos = 0;
  while (true) {
    auto b = xml.find("<QueueMessage>", pos);
    if (b == absl::string_view::npos) break;
    auto e = xml.find("</QueueMessage>", b);
    if (e == absl::string_view::npos) break;
    absl::string_view item = xml.substr(b, e - b);
    QueueMessage m;
    m.id = TagText(item, "MessageId");
    m.pop_receipt = TagText(item, "PopReceipt");
    int64_t n = 0;
    if (absl::SimpleAtoi(TagText(item, "DequeueCount"), &n)) m.dequeue_count = n;
    m.text = TagText(item, "MessageText");
    m.insertion_time = TagText(item, "InsertionTime");
    m.time_next_visible = TagText(item, "TimeNextVisible");
    out.push_back(std::move(m));
    pos = e + 1;
  }
  return out;
}

absl::Status QueueClient::CreateQueue(absl::string_view queue) const {
  Call c;
  c.method = "PUT";
  c.path = absl::StrCat("/", queue);
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("create", queue, r); !s.ok()) return s;
  if (r->status == 201 || r->status == 204) return absl::OkStatus();
  // 409 QueueAlreadyExists: created earlier with other metadata; still usable.
  if (r->status == 409 && r->header("x-ms-error-code") == "QueueAlreadyExists") return absl::OkStatus();
  return HttpError("create", queue, *r);
}

absl::StatusOr<QueueMessage> QueueClient::PutMessage(absl::string_view queue, absl::string_view text,
                                                     int64_t ttl_seconds) const {
  Call c;
  c.method = "POST";
  c.path = absl::StrCat("/", queue, "/messages");
  c.query["messagettl"] = absl::StrCat(ttl_seconds);
  c.headers.emplace_back("Content-Type", "application/xml; charset=utf-8");
  c.body = absl::StrCat("<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessage><MessageText>", XmlEscape(text),
                        "</MessageText></QueueMessage>");
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("put message", queue, r); !s.ok()) return s;
  if (r->status != 201) return HttpError("put message", queue, *r);
  auto list = ParseMessagesList(r->body);
  if (list.empty()) return absl::UnavailableError(absl::StrCat("azure queue put message on '", queue,
                                                               "': 201 without a QueueMessage in the body"));
  list[0].text = std::string(text);
  return list[0];
}

absl::StatusOr<std::vector<QueueMessage>> QueueClient::GetMessages(absl::string_view queue, int max,
                                                                   int visibility_seconds) const {
  Call c;
  c.path = absl::StrCat("/", queue, "/messages");
  c.query["numofmessages"] = absl::StrCat(max < 1 ? 1 : max > 32 ? 32 : max);
  c.query["visibilitytimeout"] = absl::StrCat(visibility_seconds < 1 ? 1 : visibility_seconds);
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("get messages", queue, r); !s.ok()) return s;
  if (r->status != 200) return HttpError("get messages", queue, *r);
  return ParseMessagesList(r->body);
}

absl::StatusOr<std::vector<QueueMessage>> QueueClient::PeekMessages(absl::string_view queue, int max) const {
  Call c;
  c.path = absl::StrCat("/", queue, "/messages");
  c.query["peekonly"] = "true";
  c.query["numofmessages"] = absl::StrCat(max < 1 ? 1 : max > 32 ? 32 : max);
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("peek messages", queue, r); !s.ok()) return s;
  if (r->status != 200) return HttpError("peek messages", queue, *r);
  return ParseMessagesList(r->body);
}

absl::Status QueueClient::DeleteMessage(absl::string_view queue, absl::string_view id,
                                        absl::string_view pop_receipt) const {
  Call c;
  c.method = "DELETE";
  c.path = absl::StrCat("/", queue, "/messages/", azure::PercentEncode(id));
  c.query["popreceipt"] = std::string(pop_receipt);
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("delete message", queue, r); !s.ok()) return s;
  if (r->status == 204) return absl::OkStatus();
  return HttpError("delete message", queue, *r);
}

absl::Status QueueClient::ClearMessages(absl::string_view queue) const {
  Call c;
  c.method = "DELETE";
  c.path = absl::StrCat("/", queue, "/messages");
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("clear messages", queue, r); !s.ok()) return s;
  if (r->status == 204) return absl::OkStatus();
  return HttpError("clear messages", queue, *r);
}

absl::StatusOr<int64_t> QueueClient::ApproximateCount(absl::string_view queue) const {
  Call c;
  c.path = absl::StrCat("/", queue);
  c.query["comp"] = "metadata";
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("get metadata", queue, r); !s.ok()) return s;
  if (r->status != 200) return HttpError("get metadata", queue, *r);
  int64_t n = 0;
  if (!absl::SimpleAtoi(r->header("x-ms-approximate-messages-count"), &n)) {
    return absl::UnavailableError(absl::StrCat("azure queue get metadata on '", queue,
                                               "': no x-ms-approximate-messages-count header"));
  }
  return n;
}

absl::StatusOr<std::string> QueueClient::UpdateVisibility(absl::string_view queue, absl::string_view id,
                                                          absl::string_view pop_receipt,
                                                          int visibility_seconds) const {
  Call c;
  c.method = "PUT";
  c.path = absl::StrCat("/", queue, "/messages/", azure::PercentEncode(id));
  c.query["popreceipt"] = std::string(pop_receipt);
  c.query["visibilitytimeout"] = absl::StrCat(visibility_seconds < 0 ? 0 : visibility_seconds);
  auto r = Send(a_, std::move(c));
  if (auto s = Reached("update message", queue, r); !s.ok()) return s;
  if (r->status != 204) return HttpError("update message", queue, *r);
  return r->header("x-ms-popreceipt");
}

}  // namespace switchboard::gateway::storage_queue
