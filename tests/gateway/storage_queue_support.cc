#include "tests/gateway/storage_queue_support.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "wire/terraform_output.h"
#include "switchboard/v1/resourcing.grpc.pb.h"
#include "tests/gateway/storage_queue_env.h"

namespace switchboard::testing {

using gateway::storage_queue::QueueClient;
using gateway::storage_queue::QueueMessage;

int DrainJson(const QueueClient& q, const std::string& queue, std::vector<nlohmann::json>* out) {
  int n = 0;
  while (true) {
    auto got = q.GetMessages(queue, 32, 30);
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
      return n;
    }
    if (got->empty()) return n;
    for (const QueueMessage& m : *got) {
      std::string text = m.text, decoded;
      if (!text.empty() && text.front() != '{' && absl::Base64Unescape(text, &decoded)) text = decoded;
      auto j = nlohmann::json::parse(text, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not JSON: " << m.text;
      out->push_back(j);
      EXPECT_TRUE(q.DeleteMessage(queue, m.id, m.pop_receipt).ok());
      ++n;
    }
  }
}

std::vector<nlohmann::json> LogStatusMessages(const std::shared_ptr<grpc::Channel>& channel, int64_t* last_sequence) {
  std::vector<nlohmann::json> out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1500));
  v1::WatchWorkspacesRequest req;
  auto reader = v1::ResourcingService::NewStub(channel)->WatchWorkspaces(&ctx, req);
  v1::ResourcingEvent e;
  int64_t last = 0;
  while (reader->Read(&e)) {
    if (!e.has_status()) continue;
    last = e.sequence();
    out.push_back(nlohmann::json::parse(wire::StatusReportToJson(e.status())));
  }
  reader->Finish();  // DEADLINE_EXCEEDED: the log was read to its end
  if (last_sequence) *last_sequence = last;
  return out;
}

gateway::GatewayConfig QueueGatewayConfig(const std::string& server_address, const std::string& tag) {
  gateway::GatewayConfig c;
  c.server = server_address;
  c.http_address = "127.0.0.1:0";
  c.timeout_seconds = 5;
  auto a = AzuriteQueueAccount();
  c.azure_queue_endpoint = a.endpoint;
  c.azure_storage_account = a.account;
  c.azure_storage_key = a.key;
  c.run_request_queue = UniqueQueueName(tag + "-req");
  c.run_request_poison_queue = c.run_request_queue + "-poison";
  c.status_queue = UniqueQueueName(tag + "-status");
  return c;
}

std::vector<QueueMessage> Peek(const QueueClient& q, const std::string& queue) {
  auto p = q.PeekMessages(queue, 32);
  if (!p.ok()) {
    EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound) << p.status();
    return {};
  }
  return *p;
}

int64_t Count(const QueueClient& q, const std::string& queue) {
  auto n = q.ApproximateCount(queue);
  if (!n.ok()) {
    EXPECT_EQ(n.status().code(), absl::StatusCode::kNotFound) << n.status();
    return 0;
  }
  return *n;
}

}  // namespace switchboard::testing
