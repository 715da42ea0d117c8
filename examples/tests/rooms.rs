//! The typed room builders and readers generated from the schemas' room templates.

use tidings_examples::events::{chat, tenant};

#[test]
fn room_builders_and_readers_agree_with_the_templates() {
    let room = chat::rooms::chat("00000000-0000-4000-8000-000000000042");
    assert_eq!(room, "chat:00000000-0000-4000-8000-000000000042");
    assert_eq!(
        chat::rooms::read_chat(&room),
        Some(["00000000-0000-4000-8000-000000000042"])
    );
    assert_eq!(chat::rooms::read_chat("ticket:1"), None);
    assert_eq!(chat::rooms::read_chat("chat:"), None);
    // A literal after the placeholder (`tenant:{tenant_id}:admins`).
    let admins = tenant::rooms::tenant_admins(42);
    assert_eq!(admins, "tenant:42:admins");
    assert_eq!(tenant::rooms::read_tenant_admins(&admins), Some(["42"]));
    assert_eq!(tenant::rooms::read_tenant_admins("tenant:42"), None);
}
