package dev.periscope.vmi.driver.libvirt;

import java.io.IOException;
import java.io.StringReader;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.w3c.dom.Element;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;

/**
 * A domain's owner as its definition states it, in Periscope's metadata namespace:
 * <pre>{@code
 * <metadata>
 *   <periscope:owner xmlns:periscope="https://periscope.dev/libvirt/1" tenant="acme"/>
 * </metadata>
 * }</pre>
 * (set with {@code virsh metadata DOMAIN https://periscope.dev/libvirt/1 --key periscope
 * --set '<owner tenant="acme"/>'}). The XML is parsed with DTDs and external entities off.
 */
final class OwnerMetadata {

    static final String NAMESPACE = "https://periscope.dev/libvirt/1";
    /** The tenant names lab VMs and the API accept. */
    private static final Pattern TENANT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private OwnerMetadata() {
    }

    /**
     * The tenant named by the element libvirt returned for {@link #NAMESPACE}, or empty when it is malformed or
     * names none.
     */
    static Optional<String> tenant(String xml) {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setXIncludeAware(false);
            factory.setExpandEntityReferences(false);
            factory.setNamespaceAware(true);
            Element root = factory.newDocumentBuilder().parse(new InputSource(new StringReader(xml)))
                    .getDocumentElement();
            // libvirt returns the element of the namespace asked for without its namespace: <owner tenant="..."/>
            String namespace = root.getNamespaceURI();
            if ((namespace != null && !NAMESPACE.equals(namespace)) || !"owner".equals(root.getLocalName())) {
                return Optional.empty();
            }
            String tenant = root.getAttribute("tenant");
            return TENANT.matcher(tenant).matches() ? Optional.of(tenant) : Optional.empty();
        } catch (ParserConfigurationException | SAXException | IOException e) {
            return Optional.empty();
        }
    }
}
