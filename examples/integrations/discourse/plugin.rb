# frozen_string_literal: true

# name: discourse-safeguard
# about: EXAMPLE, not tested: asks a safeguard service for a decision before a post is created.
# version: 0.1
# authors: safeguard

require "net/http"
require "json"

module ::SafeguardModeration
  URL = ENV.fetch("SAFEGUARD_URL", "http://127.0.0.1:8080")
  API_KEY = ENV["SAFEGUARD_API_KEY"]
  TIMEOUT = 2 # seconds; the author waits for this
  ON_UNREACHABLE = "allow" # "hold" to fail closed

  # The decision for a post about to be created: {"action" => "allow" | "hold" | "remove", ...}.
  def self.decide(manager)
    user = manager.user
    body = {
      text: manager.args[:raw].to_s,
      title: manager.args[:title],
      author: {
        id: user.id.to_s,
        trust_level: user.trust_level,
        role: user.moderator? ? "moderator" : (user.staff? ? "staff" : "member"),
        account_age_days: ((Time.now - user.created_at) / 86_400).round(1),
        post_count: user.post_count,
      },
      thread_id: manager.args[:topic_id]&.to_s,
    }
    uri = URI.join(URL, "/v1/moderate")
    request = Net::HTTP::Post.new(uri, "Content-Type" => "application/json")
    request["Authorization"] = "Bearer #{API_KEY}" if API_KEY
    request.body = body.to_json
    response =
      Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https", open_timeout: TIMEOUT, read_timeout: TIMEOUT) do |http|
        http.request(request)
      end
    return { "action" => ON_UNREACHABLE } unless response.is_a?(Net::HTTPSuccess)
    JSON.parse(response.body)
  rescue StandardError => e
    Rails.logger.warn("safeguard unreachable: #{e.class}")
    { "action" => ON_UNREACHABLE }
  end
end

after_initialize do
  # Runs synchronously for each new post, before it is created (the "before create post" point).
  NewPostManager.add_handler(10) do |manager|
    decision = SafeguardModeration.decide(manager)
    case decision["action"]
    when "remove"
      result = NewPostResult.new(:created_post, false)
      reasons = Array(decision["matches"]).map { |m| m["reason"] }.compact
      result.errors.add(:base, reasons.first || "This post breaks the community guidelines.")
      result
    when "hold"
      manager.enqueue(:safeguard_hold) # into the review queue; staff approve or reject it
    else
      nil # allow: the next handler, then Discourse, creates the post
    end
  end
end
