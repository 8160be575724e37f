"""Interface texts in Vietnamese and English as plain data, `t()` to look one up, and numbers written per language.

Pages never hard-code visible text: they ask `t(key, lang)`. A missing key or language is never an exception on a
wall display; it falls back to the other language, then to the key itself in brackets so the gap is easy to spot.
"""

from __future__ import annotations

import logging
from typing import Final, Literal, get_args

log = logging.getLogger(__name__)

Lang = Literal["vi", "en"]
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)
DEFAULT_LANG: Final[Lang] = "vi"

TEXTS: Final[dict[str, dict[Lang, str]]] = {
    # Page frame
    "wall.title": {"vi": "Trung tâm Điều hành Đô thị thông minh {city}", "en": "{city} Intelligent Operations Centre"},
    "wall.city_time": {"vi": "Giờ thành phố", "en": "City time"},
    "wall.language": {"vi": "Ngôn ngữ", "en": "Language"},
    "wall.no_time": {"vi": "--:--:--", "en": "--:--:--"},
    "wall.simulated": {"vi": "MÔ PHỎNG ×{speed}", "en": "SIMULATED ×{speed}"},
    "wall.simulated_hint": {"vi": "Giờ mô phỏng, không phải số liệu thật", "en": "Simulated time, not live data"},
    "login.title": {"vi": "Đăng nhập Trung tâm Điều hành", "en": "Sign in to the operations centre"},
    "login.username": {"vi": "Tên đăng nhập", "en": "User name"},
    "login.password": {"vi": "Mật khẩu", "en": "Password"},
    "login.submit": {"vi": "Đăng nhập", "en": "Sign in"},
    "login.invalid_credentials": {"vi": "Sai tên đăng nhập hoặc mật khẩu.", "en": "Wrong user name or password."},
    "login.disabled": {"vi": "Tài khoản này đã bị khóa.", "en": "This account is disabled."},
    "login.rate_limited": {
        "vi": "Quá nhiều lần thử. Vui lòng thử lại sau {seconds} giây.",
        "en": "Too many attempts. Try again in {seconds} s.",
    },
    "login.expired": {
        "vi": "Trang đăng nhập đã hết hạn, vui lòng thử lại.",
        "en": "The sign-in page expired; please try again.",
    },
    "login.unavailable": {
        "vi": "Hiện không thể đăng nhập (mất kết nối hệ thống). Vui lòng thử lại sau.",
        "en": "Signing in is unavailable right now (a system connection is down). Try again soon.",
    },
    "auth.forbidden": {"vi": "Vai trò của bạn không được mở trang này", "en": "Your role may not open this page"},
    "auth.signed_in_as": {"vi": "Đang đăng nhập: {name}", "en": "Signed in as {name}"},
    "auth.back": {"vi": "Về màn hình chính", "en": "Back to the wall"},
    "auth.not_found": {"vi": "Không tìm thấy trang", "en": "Page not found"},
    "auth.not_found_hint": {"vi": "Không có trang nào ở địa chỉ {path}.", "en": "There is no page at {path}."},
    "shell.not_found_hint": {"vi": "Không có trang nào ở địa chỉ này.", "en": "There is no page at this address."},
    "auth.unavailable": {"vi": "Tạm thời chưa mở được trang này", "en": "This page is unavailable for now"},
    "auth.unavailable_hint": {
        "vi": "Cơ sở dữ liệu không trả lời. Màn hình tổng vẫn hoạt động; trang này sẽ mở lại khi có kết nối.",
        "en": "The database does not answer. The wall still works; this page opens again once it does.",
    },
    "auth.revoked": {"vi": "Quyền truy cập đã bị thu hồi", "en": "Access revoked"},
    "auth.display_confirm": {
        "vi": "Mở trình duyệt này làm màn hình tường?",
        "en": "Turn this browser into a wall screen?",
    },
    "auth.display_confirm_hint": {
        "vi": "Trình duyệt này đang đăng nhập với tên {name}. Mở liên kết màn hình “{wall}” sẽ đăng xuất {name}.",
        "en": "This browser is signed in as {name}. Opening the wall screen link “{wall}” signs {name} out.",
    },
    "auth.display_open": {"vi": "Đăng xuất và mở màn hình tường", "en": "Sign out and open the wall screen"},
    "auth.display_keep": {"vi": "Giữ phiên đăng nhập của tôi", "en": "Keep my session"},
    "auth.revoked_hint": {
        "vi": "Màn hình này không còn hiển thị số liệu thành phố. Liên hệ quản trị viên.",
        "en": "This screen no longer shows city data. Ask an administrator for a new link.",
    },
    "shell.logout": {"vi": "Đăng xuất", "en": "Sign out"},
    "shell.page.wall": {"vi": "Màn hình tổng", "en": "Wall"},
    "shell.page.admin": {"vi": "Quản trị", "en": "Admin"},
    "role.operator": {"vi": "điều hành viên", "en": "operator"},
    "role.manager": {"vi": "quản lý", "en": "manager"},
    "role.trainer": {"vi": "huấn luyện viên", "en": "trainer"},
    "role.admin": {"vi": "quản trị viên", "en": "admin"},
    "role.display": {"vi": "màn hình", "en": "display"},
    # Admin page: accounts, display tokens, the audit log
    "admin.title": {"vi": "Quản trị tài khoản và màn hình", "en": "Accounts and wall screens"},
    "admin.reload": {"vi": "Tải lại", "en": "Reload"},
    "admin.accounts": {"vi": "Tài khoản", "en": "Accounts"},
    "admin.tokens": {"vi": "Mã truy cập màn hình tường", "en": "Wall screen tokens"},
    "admin.audit": {"vi": "Nhật ký thao tác gần đây", "en": "Recent audit log"},
    "admin.col.username": {"vi": "Tên đăng nhập", "en": "User name"},
    "admin.col.role": {"vi": "Vai trò", "en": "Role"},
    "admin.col.status": {"vi": "Trạng thái", "en": "Status"},
    "admin.col.changed": {"vi": "Thay đổi lần cuối", "en": "Last change"},
    "admin.col.actions": {"vi": "Thao tác", "en": "Actions"},
    "admin.col.name": {"vi": "Tên màn hình", "en": "Screen name"},
    "admin.col.created": {"vi": "Ngày tạo", "en": "Created"},
    "admin.col.created_by": {"vi": "Người tạo", "en": "Created by"},
    "admin.col.when": {"vi": "Thời điểm", "en": "When"},
    "admin.col.who": {"vi": "Người thực hiện", "en": "Who"},
    "admin.col.what": {"vi": "Nội dung", "en": "What"},
    "admin.col.address": {"vi": "Từ địa chỉ", "en": "From"},
    "admin.status.enabled": {"vi": "Đang hoạt động", "en": "Enabled"},
    "admin.status.disabled": {"vi": "Đã khóa", "en": "Disabled"},
    "admin.status.active": {"vi": "Còn hiệu lực", "en": "Active"},
    "admin.status.revoked": {"vi": "Đã thu hồi {time}", "en": "Revoked {time}"},
    "admin.you": {"vi": "bạn", "en": "you"},
    "admin.none.accounts": {"vi": "Chưa có tài khoản nào.", "en": "No accounts yet."},
    "admin.none.tokens": {"vi": "Chưa có mã màn hình nào.", "en": "No wall screen tokens yet."},
    "admin.none.audit": {"vi": "Nhật ký còn trống.", "en": "The audit log is empty."},
    "admin.do.disable": {"vi": "Khóa", "en": "Disable"},
    "admin.do.enable": {"vi": "Mở khóa", "en": "Enable"},
    "admin.do.set_role": {"vi": "Đổi vai trò", "en": "Change role"},
    "admin.do.reset_password": {"vi": "Đặt lại mật khẩu", "en": "Reset password"},
    "admin.do.revoke": {"vi": "Thu hồi", "en": "Revoke"},
    "admin.confirm.disable": {
        "vi": "Khóa tài khoản {name}? Các phiên đăng nhập của tài khoản này sẽ kết thúc.",
        "en": "Disable the account {name}? Its sessions end.",
    },
    "admin.confirm.enable": {"vi": "Mở khóa tài khoản {name}?", "en": "Enable the account {name}?"},
    "admin.confirm.set_role": {
        "vi": "Đổi vai trò của {name} theo lựa chọn? Các phiên đăng nhập của tài khoản này sẽ kết thúc.",
        "en": "Give {name} the chosen role? Its sessions end.",
    },
    "admin.confirm.reset_password": {
        "vi": "Đặt mật khẩu ngẫu nhiên mới cho {name}? Mật khẩu cũ hết hiệu lực.",
        "en": "Give {name} a new random password? The old one stops working.",
    },
    "admin.confirm.revoke": {
        "vi": "Thu hồi mã của màn hình {name}? Màn hình đó sẽ ngừng hiển thị số liệu.",
        "en": "Revoke the token of the screen {name}? That screen stops showing city data.",
    },
    "admin.create.title": {"vi": "Tạo tài khoản", "en": "New account"},
    "admin.create.password": {"vi": "Mật khẩu", "en": "Password"},
    "admin.create.password_again": {"vi": "Nhập lại mật khẩu", "en": "Password again"},
    "admin.create.generate": {
        "vi": "Tạo mật khẩu ngẫu nhiên (hiện một lần)",
        "en": "Generate a random password (shown once)",
    },
    "admin.create.rule": {
        "vi": "Mật khẩu ít nhất 10 ký tự và khác tên đăng nhập.",
        "en": "At least 10 characters, not the user name.",
    },
    "admin.create.submit": {"vi": "Tạo tài khoản", "en": "Create account"},
    "admin.token.title": {"vi": "Tạo mã cho một màn hình tường", "en": "New wall screen token"},
    "admin.token.submit": {"vi": "Tạo mã", "en": "Create token"},
    "admin.token.rule": {
        "vi": "Chữ, số, '.', '_' hoặc '-', ví dụ phong-dieu-hanh.",
        "en": "Letters, digits, '.', '_' or '-', e.g. control-room.",
    },
    "admin.done.create": {"vi": "Đã tạo tài khoản {name} ({role}).", "en": "Account {name} created ({role})."},
    "admin.done.disable": {"vi": "Đã khóa tài khoản {name}.", "en": "Account {name} disabled."},
    "admin.done.enable": {"vi": "Đã mở khóa tài khoản {name}.", "en": "Account {name} enabled."},
    "admin.done.set_role": {"vi": "Tài khoản {name} giờ có vai trò {role}.", "en": "Account {name} is now {role}."},
    "admin.done.reset_password": {"vi": "Đã đặt lại mật khẩu của {name}.", "en": "Password of {name} reset."},
    "admin.done.unchanged": {
        "vi": "Không có gì thay đổi: {name} đã như vậy rồi.",
        "en": "Nothing to change: {name} is that way already.",
    },
    "admin.done.token": {"vi": "Đã tạo mã cho màn hình {name}.", "en": "Token for the screen {name} created."},
    "admin.done.revoke": {
        "vi": "Đã thu hồi mã của màn hình {name}: màn hình đó bị từ chối từ lần cập nhật kế tiếp.",
        "en": "Token of the screen {name} revoked: that screen is refused from its next update.",
    },
    "admin.secret.password": {
        "vi": "Mật khẩu của {name}, chỉ hiện một lần này. Hãy chép và trao cho người dùng:",
        "en": "Password of {name}, shown this once only. Copy it and hand it over:",
    },
    "admin.secret.token": {
        "vi": "Địa chỉ cho màn hình {name}, chỉ hiện một lần này:",
        "en": "Address for the screen {name}, shown this once only:",
    },
    "admin.secret.token_hint": {
        "vi": "Mở địa chỉ này một lần trong trình duyệt của màn hình tường: màn hình vào thẳng "
        "chế độ hiển thị, không cần đăng nhập.",
        "en": "Open this address once in the wall screen's browser: it goes straight to the wall, with no sign-in.",
    },
    "admin.secret.copy": {"vi": "Chép", "en": "Copy"},
    "admin.refused.stale": {
        "vi": "{name} vừa được người khác thay đổi. Hãy tải lại trang rồi thử lại.",
        "en": "{name} changed meanwhile. Reload the page and try again.",
    },
    "admin.refused.not_found": {
        "vi": "{name} không còn nữa. Hãy tải lại trang.",
        "en": "{name} no longer exists. Reload the page.",
    },
    "admin.refused.account_exists": {
        "vi": "Đã có tài khoản tên {name}.",
        "en": "An account named {name} exists already.",
    },
    "admin.refused.token_exists": {
        "vi": "Đã có mã còn hiệu lực cho màn hình {name}; hãy thu hồi mã đó trước.",
        "en": "The screen {name} has an active token already; revoke it first.",
    },
    "admin.refused.last_admin": {
        "vi": "{name} là quản trị viên cuối cùng còn hoạt động: không thể khóa hay đổi vai trò.",
        "en": "{name} is the last enabled admin: it cannot be disabled or given another role.",
    },
    "admin.refused.mismatch": {"vi": "Hai mật khẩu không khớp nhau.", "en": "The two passwords differ."},
    "admin.refused.invalid": {"vi": "Không hợp lệ: {detail}", "en": "Not accepted: {detail}"},
    "admin.refused.unavailable": {
        "vi": "Cơ sở dữ liệu không trả lời; hãy thử lại sau.",
        "en": "The database does not answer; try again soon.",
    },
    "admin.what.account.create": {"vi": "tạo tài khoản {name} ({role})", "en": "created account {name} ({role})"},
    "admin.what.account.disable": {"vi": "khóa tài khoản {name}", "en": "disabled account {name}"},
    "admin.what.account.enable": {"vi": "mở khóa tài khoản {name}", "en": "enabled account {name}"},
    "admin.what.account.set_role": {
        "vi": "đổi vai trò của {name}: {before} → {role}",
        "en": "changed the role of {name}: {before} → {role}",
    },
    "admin.what.account.reset_password": {"vi": "đặt lại mật khẩu của {name}", "en": "reset the password of {name}"},
    "admin.what.display_token.create": {"vi": "tạo mã màn hình {name}", "en": "created screen token {name}"},
    "admin.what.display_token.revoke": {"vi": "thu hồi mã màn hình {name}", "en": "revoked screen token {name}"},
    "admin.what.login.success": {"vi": "đăng nhập", "en": "signed in"},
    "admin.what.login.failure": {"vi": "đăng nhập không thành công: {reason}", "en": "failed to sign in: {reason}"},
    "admin.reason.unknown_user": {"vi": "không có tài khoản này", "en": "no such account"},
    "admin.reason.wrong_password": {"vi": "sai mật khẩu", "en": "wrong password"},
    "admin.reason.disabled": {"vi": "tài khoản đã bị khóa", "en": "account disabled"},
    "admin.reason.rate_limited": {"vi": "quá nhiều lần thử", "en": "too many attempts"},
    "admin.what.logout": {"vi": "đăng xuất", "en": "signed out"},
    # KPI strip
    "kpi.sensors_online": {"vi": "Thiết bị hoạt động", "en": "Sensors online"},
    "kpi.city_speed": {"vi": "Tốc độ TB toàn TP", "en": "City average speed"},
    "kpi.congested": {"vi": "Đoạn đường ùn tắc", "en": "Congested segments"},
    "kpi.flood": {"vi": "Mức báo động lũ cao nhất", "en": "Highest flood level"},
    "kpi.alerts": {"vi": "Cảnh báo đang bật", "en": "Active alerts"},
    "kpi.deadletters": {"vi": "Bản tin bị loại", "en": "Rejected events"},
    "kpi.of_total": {"vi": "trên {total}", "en": "of {total}"},
    "kpi.kmh": {"vi": "km/h", "en": "km/h"},
    "kpi.no_value": {"vi": "—", "en": "—"},
    "kpi.at_station": {"vi": "tại {station}", "en": "at {station}"},
    "kpi.all_stations": {"vi": "tất cả các trạm", "en": "all stations"},
    "kpi.deadletters_hint": {"vi": "dữ liệu sai định dạng", "en": "malformed data"},
    "kpi.alerts_hint": {"vi": "lũ, giao thông, thiết bị", "en": "flood, traffic, devices"},
    # Flood alarm levels (Decision 05/2020/QĐ-TTg wording)
    "alarm.0": {"vi": "Dưới BĐ I", "en": "Below Alarm I"},
    "alarm.1": {"vi": "Báo động I", "en": "Alarm I"},
    "alarm.2": {"vi": "Báo động II", "en": "Alarm II"},
    "alarm.3": {"vi": "Báo động III", "en": "Alarm III"},
    "alarm.short.0": {"vi": "Bình thường", "en": "Normal"},
    "alarm.short.1": {"vi": "BĐ I", "en": "BĐ I"},
    "alarm.short.2": {"vi": "BĐ II", "en": "BĐ II"},
    "alarm.short.3": {"vi": "BĐ III", "en": "BĐ III"},
    # Speed bands (Seoul TOPIS)
    "band.congested": {"vi": "Ùn tắc", "en": "Congested"},
    "band.slow": {"vi": "Chậm", "en": "Slow"},
    "band.smooth": {"vi": "Thông thoáng", "en": "Smooth"},
    "band.unknown": {"vi": "Chưa có dữ liệu", "en": "No data"},
    # Device health
    "health.online": {"vi": "Hoạt động", "en": "Online"},
    "health.offline": {"vi": "Mất kết nối", "en": "Offline"},
    "health.fault": {"vi": "Lỗi", "en": "Fault"},
    "health.unknown": {"vi": "Không rõ", "en": "Unknown"},
    # Rain classes (24-hour thresholds)
    "rain.none": {"vi": "Không mưa", "en": "No rain"},
    "rain.light": {"vi": "Mưa nhỏ", "en": "Light rain"},
    "rain.moderate": {"vi": "Mưa vừa", "en": "Moderate rain"},
    "rain.heavy": {"vi": "Mưa to", "en": "Heavy rain"},
    "rain.very_heavy": {"vi": "Mưa rất to", "en": "Very heavy rain"},
    # Map layers and legend
    "layer.segments": {"vi": "Tốc độ giao thông", "en": "Traffic speed"},
    "layer.cameras": {"vi": "Camera giao thông", "en": "Traffic cameras"},
    "layer.speed_cameras": {"vi": "Camera tốc độ", "en": "Speed cameras"},
    "layer.stations": {"vi": "Trạm đo mực nước", "en": "Water level stations"},
    "layer.gauges": {"vi": "Trạm đo mưa", "en": "Rain gauges"},
    "layer.hotspots": {"vi": "Wifi công cộng", "en": "Public wifi"},
    "legend.offline": {"vi": "Mất kết nối / lỗi", "en": "Offline / fault"},
    # Speed chart
    "chart.title": {"vi": "Tốc độ giao thông (km/h), 60 phút gần nhất", "en": "Traffic speed (km/h), last 60 minutes"},
    "chart.city_avg": {"vi": "Trung bình TP", "en": "City average"},
    "chart.no_data": {"vi": "Đang chờ dữ liệu tốc độ…", "en": "Waiting for speed data…"},
    # Flood panel
    "flood.title": {"vi": "Mực nước các trạm", "en": "Water levels"},
    "flood.no_reading": {"vi": "Chưa có số liệu", "en": "No reading yet"},
    "flood.metres": {"vi": "{value} m", "en": "{value} m"},
    "alerts.title": {"vi": "Cảnh báo đang bật", "en": "Active alerts"},
    "alerts.none": {"vi": "Không có cảnh báo nào đang bật", "en": "No active alerts"},
    "alerts.more": {"vi": "+{count} cảnh báo khác", "en": "+{count} more"},
    "alerts.kind.flood.level.changed": {"vi": "Mực nước", "en": "Water level"},
    "alerts.kind.traffic.congestion.changed": {"vi": "Giao thông", "en": "Traffic"},
    "alerts.kind.flood.rain.changed": {"vi": "Lượng mưa", "en": "Rainfall"},
    "alerts.kind.device.health.changed": {"vi": "Thiết bị", "en": "Device"},
    "alerts.kind.traffic.violation.detected": {"vi": "Vi phạm tốc độ", "en": "Speeding"},
    "alerts.kind.other": {"vi": "Cảnh báo", "en": "Alert"},
    "alerts.value.congested": {"vi": "Ùn tắc", "en": "Congested"},
    "alerts.value.flowing": {"vi": "Thông xe", "en": "Flowing"},
    # Takeover and stale banners
    "takeover.flood": {
        "vi": "{level} tại {place}: mực nước {value} m lúc {time}",
        "en": "{level} at {place}: water level {value} m at {time}",
    },
    "takeover.generic": {"vi": "Cảnh báo khẩn tại {place} lúc {time}", "en": "Critical alert at {place} at {time}"},
    "takeover.more": {"vi": "và {count} cảnh báo khẩn khác", "en": "and {count} more critical alerts"},
    "takeover.heading": {"vi": "CẢNH BÁO KHẨN CẤP", "en": "CRITICAL ALERT"},
    "stale.redis": {
        "vi": "Mất kết nối Redis: số liệu trên màn hình có thể đã cũ",
        "en": "Cannot reach Redis: the figures on screen may be out of date",
    },
    "stale.no_data": {
        "vi": "Không có dữ liệu mới trong {seconds} giây",
        "en": "No new data for {seconds} seconds",
    },
    "stale.no_data_ever": {"vi": "Chưa nhận được dữ liệu nào", "en": "No data received yet"},
    "stale.server": {
        "vi": "Mất kết nối máy chủ: đang thử kết nối lại…",
        "en": "Lost contact with the server: reconnecting…",
    },
    # Dash's own controls (dropdowns, date pickers, the grid), so no English is left in a Vietnamese page
    "common.dropdown.select_all": {"vi": "Chọn tất cả", "en": "Select all"},
    "common.dropdown.deselect_all": {"vi": "Bỏ chọn tất cả", "en": "Deselect all"},
    "common.dropdown.selected_count": {"vi": "Đã chọn {num_selected}", "en": "{num_selected} selected"},
    "common.dropdown.search": {"vi": "Tìm", "en": "Search"},
    "common.dropdown.clear_search": {"vi": "Xóa từ tìm", "en": "Clear search"},
    "common.dropdown.clear_selection": {"vi": "Bỏ chọn", "en": "Clear selection"},
    "common.dropdown.no_options_found": {"vi": "Không có lựa chọn nào khớp", "en": "No options found"},
    "common.date.start": {"vi": "Từ ngày", "en": "Start date"},
    "common.date.end": {"vi": "Đến ngày", "en": "End date"},
    "common.grid.no_rows": {"vi": "Không có dòng nào", "en": "No rows to show"},
    "common.grid.loading": {"vi": "Đang tải…", "en": "Loading…"},
    # Incidents: shared words (types, states, severities, units) and the lifecycle's refusals (ioc/incidents/)
    "shell.page.incidents": {"vi": "Sự cố", "en": "Incidents"},
    "shell.page.managers": {"vi": "Báo cáo quản lý", "en": "Managers' report"},
    "incident.type.flood": {"vi": "Ngập lụt", "en": "Flood"},
    "incident.type.heavy_rain": {"vi": "Mưa lớn", "en": "Heavy rain"},
    "incident.type.congestion": {"vi": "Ùn tắc giao thông", "en": "Traffic congestion"},
    "incident.type.device_offline": {"vi": "Thiết bị mất kết nối", "en": "Device offline"},
    "incident.type.speed_violations": {"vi": "Vi phạm tốc độ dồn dập", "en": "Speeding burst"},
    "incident.type.traffic_accident": {"vi": "Tai nạn giao thông", "en": "Traffic accident"},
    "incident.type.fire": {"vi": "Cháy", "en": "Fire"},
    "incident.type.fallen_tree": {"vi": "Cây đổ", "en": "Fallen tree"},
    "incident.type.power_outage": {"vi": "Mất điện", "en": "Power outage"},
    "incident.type.other": {"vi": "Khác", "en": "Other"},
    "incident.status.new": {"vi": "Mới", "en": "New"},
    "incident.status.acknowledged": {"vi": "Đã tiếp nhận", "en": "Acknowledged"},
    "incident.status.dispatched": {"vi": "Đã điều lực lượng", "en": "Dispatched"},
    "incident.status.resolved": {"vi": "Đã xử lý", "en": "Resolved"},
    "incident.status.closed": {"vi": "Đã đóng", "en": "Closed"},
    "incident.severity.info": {"vi": "Thông tin", "en": "Info"},
    "incident.severity.warning": {"vi": "Cảnh báo", "en": "Warning"},
    "incident.severity.critical": {"vi": "Nghiêm trọng", "en": "Critical"},
    "incident.action.acknowledge": {"vi": "Tiếp nhận", "en": "Acknowledge"},
    "incident.action.dispatch": {"vi": "Điều lực lượng", "en": "Dispatch"},
    "incident.action.resolve": {"vi": "Đã xử lý xong", "en": "Resolve"},
    "incident.action.close": {"vi": "Đóng sự cố", "en": "Close"},
    "incident.action.reopen": {"vi": "Mở lại", "en": "Reopen"},
    "incident.action.comment": {"vi": "Ghi chú", "en": "Comment"},
    "incident.action.open": {"vi": "Mở sự cố", "en": "Open"},
    "incident.action.alerts": {"vi": "Thêm cảnh báo", "en": "More alerts"},
    "incident.action.condition": {"vi": "Hiện trạng thay đổi", "en": "Condition changed"},
    "incident.action.escalate": {"vi": "Quá hạn: nâng mức độ", "en": "Overdue: escalated"},
    "incident.unit.police-113": {"vi": "Công an 113", "en": "Police 113"},
    "incident.unit.fire-114": {"vi": "Cứu hỏa 114", "en": "Fire 114"},
    "incident.unit.ambulance-115": {"vi": "Cấp cứu 115", "en": "Ambulance 115"},
    "incident.unit.public-works": {"vi": "Công trình công cộng", "en": "Public works"},
    "incident.unit.flood-response": {"vi": "Đội ứng phó ngập lụt", "en": "Flood response"},
    "incident.condition.active": {"vi": "Đang diễn ra", "en": "Ongoing"},
    "incident.condition.cleared": {"vi": "Đã trở lại bình thường", "en": "Back to normal"},
    "incident.condition.none": {"vi": "Báo cáo thủ công", "en": "Reported by hand"},
    "incident.overdue": {"vi": "Quá hạn", "en": "Overdue"},
    "incident.refused.role": {
        "vi": "Vai trò của bạn không được thực hiện thao tác này.",
        "en": "Your role may not do this.",
    },
    "incident.refused.transition": {
        "vi": "Không thể thực hiện «{action}»: sự cố đang ở trạng thái «{status}».",
        "en": "Cannot {action}: the incident is {status}.",
    },
    "incident.changed": {
        "vi": "Người khác vừa thay đổi sự cố này (hiện: {status}). Đã tải lại, vui lòng xem rồi thử lại.",
        "en": "Someone else changed this incident first (now {status}). It was reloaded: check it and try again.",
    },
    "incident.needs.comment": {"vi": "Cần nhập ghi chú.", "en": "A comment is needed."},
    "incident.needs.note": {"vi": "Cần nhập nội dung xử lý.", "en": "A resolution note is needed."},
    "input.invalid": {"vi": "Không hợp lệ: {detail}", "en": "Not accepted: {detail}"},
    "incident.needs.unit": {"vi": "Chọn lực lượng để điều động.", "en": "Choose a unit to dispatch."},
    "incident.needs.description": {"vi": "Cần nhập mô tả.", "en": "A description is needed."},
    "incident.too_long": {"vi": "Nội dung dài quá {limit} ký tự.", "en": "The text is longer than {limit} characters."},
    "incident.bad_type": {"vi": "Loại sự cố không hợp lệ.", "en": "Unknown incident type."},
    "incident.bad_severity": {"vi": "Mức độ không hợp lệ.", "en": "Unknown severity."},
    "incident.bad_action": {"vi": "Thao tác không hợp lệ.", "en": "Unknown action."},
    "incident.outside_city": {"vi": "Vị trí nằm ngoài thành phố.", "en": "The place is outside the city."},
    "incident.not_found": {"vi": "Không tìm thấy sự cố.", "en": "No such incident."},
    "incident.unavailable": {
        "vi": "Cơ sở dữ liệu tạm thời không truy cập được.",
        "en": "The database cannot be reached right now.",
    },
    # Incidents panel (layouts/incidents, callbacks/incidents)
    "incidents.title": {"vi": "Xử lý sự cố", "en": "Incident handling"},
    "incidents.list": {"vi": "Danh sách sự cố", "en": "Incidents"},
    "incidents.detail": {"vi": "Chi tiết sự cố", "en": "Incident detail"},
    "incidents.none": {"vi": "Không có sự cố nào khớp bộ lọc.", "en": "No incident matches the filters."},
    "incidents.count": {"vi": "{count} sự cố", "en": "{count} incidents"},
    "incidents.count_limited": {
        "vi": "{count} sự cố mới nhất (thu hẹp bộ lọc để xem thêm)",
        "en": "The newest {count} incidents (narrow the filters to see others)",
    },
    "incidents.filter.any": {"vi": "Tất cả", "en": "Any"},
    "incidents.filter.status": {"vi": "Trạng thái", "en": "Status"},
    "incidents.filter.type": {"vi": "Loại sự cố", "en": "Type"},
    "incidents.filter.severity": {"vi": "Mức độ", "en": "Severity"},
    "incidents.filter.ward": {"vi": "Phường/xã", "en": "Ward"},
    "incidents.filter.period": {"vi": "Thời gian", "en": "Period"},
    "incidents.filter.dates": {"vi": "Từ ngày – đến ngày", "en": "From – to"},
    "incidents.filter.overdue": {"vi": "Chỉ sự cố quá hạn", "en": "Overdue only"},
    "incidents.filter.from": {"vi": "Từ ngày", "en": "From"},
    "incidents.filter.to": {"vi": "Đến ngày", "en": "To"},
    "incidents.period.24h": {"vi": "24 giờ qua", "en": "Last 24 hours"},
    "incidents.period.7d": {"vi": "7 ngày qua", "en": "Last 7 days"},
    "incidents.period.30d": {"vi": "30 ngày qua", "en": "Last 30 days"},
    "incidents.period.all": {"vi": "Tất cả", "en": "All"},
    "incidents.period.dates": {"vi": "Theo ngày chọn", "en": "Dates picked"},
    "incidents.col.id": {"vi": "Số", "en": "No."},
    "incidents.col.opened": {"vi": "Mở lúc", "en": "Opened"},
    "incidents.col.type": {"vi": "Loại", "en": "Type"},
    "incidents.col.place": {"vi": "Vị trí", "en": "Place"},
    "incidents.col.ward": {"vi": "Phường/xã", "en": "Ward"},
    "incidents.col.severity": {"vi": "Mức độ", "en": "Severity"},
    "incidents.col.status": {"vi": "Trạng thái", "en": "Status"},
    "incidents.col.overdue": {"vi": "Hạn xử lý", "en": "Overdue"},
    "incidents.col.condition": {"vi": "Hiện trạng", "en": "Condition"},
    "incidents.col.unit": {"vi": "Lực lượng", "en": "Unit"},
    "incidents.col.alerts": {"vi": "Cảnh báo", "en": "Alerts"},
    "incidents.detail.none": {
        "vi": "Chọn một sự cố trong bảng để xem chi tiết.",
        "en": "Select an incident in the table to see it here.",
    },
    "incidents.opened_by": {"vi": "Mở bởi {name} ({source})", "en": "Opened by {name} ({source})"},
    "incidents.source.engine": {"vi": "tự động từ cảnh báo", "en": "automatically from alerts"},
    "incidents.source.manual": {"vi": "báo cáo thủ công", "en": "reported by hand"},
    "incidents.time.detected_at": {"vi": "Phát hiện", "en": "Detected"},
    "incidents.time.opened_at": {"vi": "Mở", "en": "Opened"},
    "incidents.time.acknowledged_at": {"vi": "Tiếp nhận", "en": "Acknowledged"},
    "incidents.time.dispatched_at": {"vi": "Điều lực lượng", "en": "Dispatched"},
    "incidents.time.resolved_at": {"vi": "Xử lý xong", "en": "Resolved"},
    "incidents.time.closed_at": {"vi": "Đóng", "en": "Closed"},
    "incidents.time.ack_due_at": {"vi": "Hạn tiếp nhận", "en": "Acknowledge by"},
    "incidents.time.resolve_due_at": {"vi": "Hạn xử lý", "en": "Resolve by"},
    "incidents.time.condition_at": {"vi": "Hiện trạng đổi lúc", "en": "Condition since"},
    "incidents.timeline.title": {"vi": "Diễn biến", "en": "Timeline"},
    "incidents.timeline.empty": {"vi": "Chưa có diễn biến nào.", "en": "Nothing recorded yet."},
    "incidents.timeline.unit": {"vi": "Lực lượng: {unit}", "en": "Unit: {unit}"},
    "incidents.cameras.title": {"vi": "Camera gần nhất", "en": "Nearest cameras"},
    "incidents.cameras.none": {"vi": "Không có camera nào gần.", "en": "No camera nearby."},
    "incidents.cameras.snapshot": {"vi": "Ảnh chụp", "en": "Snapshot"},
    "incidents.cameras.stream": {"vi": "Xem trực tiếp", "en": "Live stream"},
    "incidents.action.text": {"vi": "Ghi chú / nội dung xử lý", "en": "Comment or note"},
    "incidents.action.text_hint": {
        "vi": "Bắt buộc khi tiếp nhận, xử lý xong, mở lại hoặc ghi chú",
        "en": "Needed to acknowledge, resolve, reopen or comment",
    },
    "incidents.action.unit": {"vi": "Lực lượng điều động", "en": "Unit to dispatch"},
    "incidents.done": {
        "vi": "Sự cố #{id}: đã thực hiện «{action}» (hiện: {status}).",
        "en": "Incident #{id}: {action} done (now {status}).",
    },
    "incidents.done.open": {
        "vi": "Đã mở sự cố #{id} ({type}) tại {place}.",
        "en": "Incident #{id} ({type}) opened at {place}.",
    },
    "incidents.new.title": {"vi": "Báo sự cố mới", "en": "Report an incident"},
    "incidents.new.type": {"vi": "Loại sự cố", "en": "Type"},
    "incidents.new.severity": {"vi": "Mức độ", "en": "Severity"},
    "incidents.new.description": {"vi": "Mô tả", "en": "Description"},
    "incidents.new.pick": {"vi": "Bấm vào bản đồ để chọn vị trí.", "en": "Click on the map to pick the place."},
    "incidents.new.picked": {"vi": "Vị trí: {place} ({lat}, {lon})", "en": "Place: {place} ({lat}, {lon})"},
    "incidents.new.needs_place": {
        "vi": "Hãy bấm vào bản đồ để chọn vị trí trước.",
        "en": "Pick the place on the map first.",
    },
    "incidents.new.submit": {"vi": "Mở sự cố", "en": "Open the incident"},
    # Managers' page (layouts/managers, callbacks/managers)
    "mgr.title": {"vi": "Báo cáo xử lý sự cố", "en": "Incident handling report"},
    "mgr.period": {"vi": "Khoảng thời gian", "en": "Period"},
    "mgr.period.days": {"vi": "{days} ngày qua", "en": "Last {days} days"},
    "mgr.period.dates": {"vi": "Theo ngày chọn", "en": "Chosen dates"},
    "mgr.period.dates_hint": {
        "vi": "Chọn «Theo ngày chọn» rồi chọn từ ngày – đến ngày",
        "en": "Pick «Chosen dates», then the first and last day",
    },
    "mgr.filter.type": {"vi": "Loại sự cố", "en": "Type"},
    "mgr.filter.ward": {"vi": "Phường", "en": "Ward"},
    "mgr.filter.severity": {"vi": "Mức độ", "en": "Severity"},
    "mgr.filter.all": {"vi": "Tất cả", "en": "All"},
    "mgr.export": {"vi": "Xuất dữ liệu (sự cố và nhật ký)", "en": "Export (incidents and audit log)"},
    "mgr.export.csv": {"vi": "CSV (.zip)", "en": "CSV (.zip)"},
    "mgr.export.xlsx": {"vi": "Excel (.xlsx)", "en": "Excel (.xlsx)"},
    "mgr.export.done": {"vi": "Đã tạo tệp {name}.", "en": "{name} is ready."},
    "mgr.unavailable": {
        "vi": "Cơ sở dữ liệu không trả lời: chưa có số liệu. Vui lòng thử lại sau.",
        "en": "The database does not answer: no figures for now. Try again soon.",
    },
    "mgr.summary": {
        "vi": "{count} sự cố mở từ {first} đến {last} (giờ {tz})",
        "en": "{count} incidents opened from {first} to {last} ({tz} time)",
    },
    "mgr.kpi.total": {"vi": "Sự cố", "en": "Incidents"},
    "mgr.kpi.total_detail": {"vi": "{open} chưa xử lý xong", "en": "{open} not resolved yet"},
    "mgr.kpi.ack": {"vi": "Thời gian tiếp nhận", "en": "Time to acknowledge"},
    "mgr.kpi.resolve": {"vi": "Thời gian xử lý", "en": "Time to resolve"},
    "mgr.kpi.median": {"vi": "trung vị", "en": "median"},
    "mgr.kpi.detail": {
        "vi": "trung bình {mean} · 90% trong vòng {p90} · trên {count} sự cố",
        "en": "mean {mean} · 90% within {p90} · over {count} incidents",
    },
    "mgr.kpi.overdue": {"vi": "Quá hạn", "en": "Past a time limit"},
    "mgr.kpi.overdue_detail": {
        "vi": "tiếp nhận trễ {ack} · xử lý trễ {resolve} · {count} sự cố",
        "en": "late to acknowledge {ack} · late to resolve {resolve} · {count} incidents",
    },
    "mgr.kpi.none": {"vi": "chưa có", "en": "none yet"},
    "mgr.minutes": {"vi": "{minutes} phút", "en": "{minutes} min"},
    "mgr.hours": {"vi": "{hours} giờ {minutes} phút", "en": "{hours} h {minutes} min"},
    "mgr.trends": {"vi": "Xu hướng", "en": "Trends"},
    "mgr.breakdown": {"vi": "Phân bố", "en": "Breakdown"},
    "mgr.chart.opened.day": {"vi": "Sự cố mới mỗi ngày", "en": "Incidents opened per day"},
    "mgr.chart.opened.week": {"vi": "Sự cố mới mỗi tuần", "en": "Incidents opened per week"},
    "mgr.chart.quality": {"vi": "Thời gian tiếp nhận và tỷ lệ quá hạn", "en": "Time to acknowledge and share late"},
    "mgr.chart.median_ack": {"vi": "Trung vị tiếp nhận (phút)", "en": "Median to acknowledge (min)"},
    "mgr.chart.overdue_share": {"vi": "Quá hạn (%)", "en": "Past a limit (%)"},
    "mgr.chart.incidents": {"vi": "Sự cố", "en": "Incidents"},
    "mgr.chart.by_type": {"vi": "Theo loại sự cố", "en": "By type"},
    "mgr.chart.by_ward": {"vi": "Theo phường", "en": "By ward"},
    "mgr.chart.by_hour": {"vi": "Theo giờ trong ngày (giờ thành phố)", "en": "By hour of day (city time)"},
    "mgr.chart.by_day": {"vi": "Theo ngày", "en": "By day"},
    "mgr.chart.no_data": {"vi": "Không có sự cố trong khoảng này", "en": "No incidents in this period"},
    "mgr.ward.unknown": {"vi": "Không rõ phường", "en": "Ward unknown"},
    # Wall: incidents panel (layouts/wall/incidents.py)
    "wall.incidents.title": {"vi": "Sự cố đang mở", "en": "Open incidents"},
    "wall.incidents.newest_critical": {"vi": "Nghiêm trọng mới nhất", "en": "Newest critical"},
    "wall.incidents.overdue_list": {"vi": "Quá hạn lâu nhất", "en": "Longest overdue"},
    "wall.incidents.none": {"vi": "Không có", "en": "None"},
    "wall.incidents.back_to_normal": {"vi": "Đã bình thường, chờ đóng", "en": "Back to normal, to resolve"},
    "wall.incidents.loading": {"vi": "Đang tải…", "en": "Loading…"},
    "wall.incidents.unavailable": {
        "vi": "Tạm thời không xem được sự cố (mất kết nối cơ sở dữ liệu)",
        "en": "Incidents unavailable (the database does not answer)",
    },
    "wall.incidents.age.now": {"vi": "vừa xong", "en": "just now"},
    "wall.incidents.age.min": {"vi": "{minutes} phút", "en": "{minutes} min"},
    "wall.incidents.age.hour": {"vi": "{hours} giờ {minutes}", "en": "{hours} h {minutes}"},
    "wall.incidents.age.day": {"vi": "{days} ngày", "en": "{days} d"},
}


def normalize_lang(value: object, default: Lang = DEFAULT_LANG) -> Lang:
    """A supported language code from user input such as a `?lang=` query value, else the default."""
    if isinstance(value, str):
        code = value.strip().lower()[:2]
        for lang in LANGS:
            if code == lang:
                return lang
    return default


def t(key: str, lang: str, /, **values: object) -> str:
    """The text for `key` in `lang`, placeholders filled; falls back to the other language, then to `[key]`."""
    entry = TEXTS.get(key)
    if entry is None:
        log.warning("missing interface text %r", key)
        return f"[{key}]"
    text = entry.get(normalize_lang(lang))
    if text is None:
        text = next(iter(entry.values()))
    if not values:
        return text
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        log.warning("interface text %r cannot be filled with %s", key, sorted(values))
        return text


def fmt_number(value: float | None, lang: str, digits: int = 1) -> str:
    """A number as people read it in that language: `2,35` in Vietnamese, `2.35` in English; `—` when unknown."""
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    if normalize_lang(lang) == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text
